/* signals.c – the process's signal flags and their handlers (include/pktlog/pipeline.h).
 * The handlers only set flags; the main thread acts on them every tick. */
#include <string.h>
#include "pktlog/pipeline.h"

volatile sig_atomic_t pl_stop_requested;
volatile sig_atomic_t pl_reload_requested;
volatile sig_atomic_t pl_counters_requested;

static void on_hup(int sig)
{
	(void)sig;
	pl_reload_requested = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	pl_counters_requested = 1;
}

static void on_signal(int sig)
{
	(void)sig;
	pl_stop_requested = 1;
}

void pl_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A reload or counters request must not make a system call of start-up (or of a
	 * library) fail with EINTR: those two restart; SIGTERM/SIGINT still interrupt. */
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

void pl_signals_block(void)
{
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
}
