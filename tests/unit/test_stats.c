/* test_stats.c – summing and the -v / SIGUSR1 summary (src/stats.c). */
#include <stddef.h>
#include "unit.h"
#include "pktlog/stats.h"

#define SLOTS (sizeof(struct pl_stats) / sizeof(uint64_t))
#define BASE 7000001ULL

/* issue 13: the summary left out http_memory_limited, http_truncated, tcp_ooo_overflow and
 * http_pending_dropped. Every counter that is not zero must be in it, a new one included:
 * give each slot its own value and look for each value. */
static void test_summary_prints_every_nonzero_counter(void **s)
{
	struct pl_stats st;
	uint64_t v[SLOTS];
	char *text = NULL, want[64];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	for (size_t i = 0; i < SLOTS; i++)
		v[i] = BASE + i * 10;
	memcpy(&st, v, sizeof(st));
	pl_stats_summary(&st, f);
	fclose(f);
	for (size_t i = 0; i < SLOTS; i++) {
		snprintf(want, sizeof(want), " %llu", (unsigned long long)v[i]);
		if (!strstr(text, want))
			fail_msg("slot %zu (byte %zu, value %llu) is not in the summary:\n%s", i, i * 8,
				 (unsigned long long)v[i], text);
	}
	snprintf(want, sizeof(want), "http_memory_limited %llu",
		 (unsigned long long)v[offsetof(struct pl_stats, http_memory_limited) / 8]);
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof(want), "decode_truncated %llu",
		 (unsigned long long)v[offsetof(struct pl_stats, decode[PL_DEC_TRUNCATED]) / 8]);
	assert_non_null(strstr(text, want));
	free(text);
}

/* Zero counters stay out of the list. */
static void test_summary_leaves_out_zeros(void **s)
{
	struct pl_stats st;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	memset(&st, 0, sizeof(st));
	st.http_truncated = 5;
	pl_stats_summary(&st, f);
	fclose(f);
	assert_non_null(strstr(text, "http_truncated 5"));
	assert_null(strstr(text, "http_memory_limited"));
	assert_null(strstr(text, "tcp_ooo_overflow"));
	free(text);
}

static void test_add(void **s)
{
	struct pl_stats a, b;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.spool_corrupt = 2;
	b.spool_corrupt = 3;
	b.packets = 1;
	pl_stats_add(&a, &b);
	assert_int_equal(a.spool_corrupt, 5);
	assert_int_equal(a.packets, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary_prints_every_nonzero_counter),
		cmocka_unit_test(test_summary_leaves_out_zeros),
		cmocka_unit_test(test_add),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
