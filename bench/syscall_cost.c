/* syscall_cost.c – ns per getppid() system call, the best of 5 runs of N calls: what a
 * program attached to every syscall's exit (process attribution's tp_btf/sys_exit) adds.
 * Built and run by bench/proc_cost. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static double run(long n)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)n;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	double best = 1e18;

	for (int i = 0; i < 5; i++) {
		double v = run(n);
		if (v < best)
			best = v;
	}
	printf("%.1f\n", best);
	return 0;
}
