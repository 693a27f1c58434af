/* test_txq.c – unit tests of the pending-transaction queue (src/proto/txq.c): order, the
 * bound and what comes back when full, records linked through a node that is not their first
 * member, and the caller's `late` left alone. */
#include "unit.h"
#include "../../src/proto/txq.h"

struct rec {
	int id;
	struct pl_txq_node link;   /* deliberately not first: PL_TXQ_ENTRY must subtract */
};

static struct rec *entry(struct pl_txq_node *n)
{
	return PL_TXQ_ENTRY(n, struct rec, link);
}

static void test_fifo_order(void **st)
{
	struct rec r[5];
	struct pl_txq q = { 0 };

	assert_null(pl_txq_head(&q));
	assert_null(pl_txq_pop(&q));
	assert_null(entry(pl_txq_pop(&q)));   /* NULL stays NULL through PL_TXQ_ENTRY */
	for (int i = 0; i < 5; i++) {
		r[i].id = i;
		assert_null(pl_txq_push(&q, &r[i].link, 8));
		assert_int_equal(pl_txq_len(&q), i + 1);
		assert_ptr_equal(entry(pl_txq_head(&q)), &r[0]);
	}
	for (int i = 0; i < 5; i++) {
		struct rec *e = entry(pl_txq_pop(&q));

		assert_ptr_equal(e, &r[i]);
		assert_null(e->link.next);           /* unlinked */
		assert_int_equal(pl_txq_len(&q), 4 - i);
	}
	assert_null(pl_txq_head(&q));
	assert_null(q.tail);
	/* empty again: a push starts a fresh list */
	assert_null(pl_txq_push(&q, &r[3].link, 8));
	assert_ptr_equal(entry(pl_txq_pop(&q)), &r[3]);
	assert_null(pl_txq_pop(&q));
}

/* Full: the new record goes in, the oldest comes back unlinked, the length stays at the
 * bound; the queue counts nothing else. */
static void test_bound_evicts_oldest(void **st)
{
	struct rec r[6];
	struct pl_txq q;

	pl_txq_init(&q);
	q.late = 7;
	for (int i = 0; i < 6; i++) {
		struct pl_txq_node *old;

		r[i].id = i;
		old = pl_txq_push(&q, &r[i].link, 3);
		if (i < 3) {
			assert_null(old);
		} else {
			assert_ptr_equal(entry(old), &r[i - 3]);
			assert_null(old->next);
		}
		assert_int_equal(pl_txq_len(&q), i < 3 ? i + 1 : 3);
	}
	assert_int_equal(q.late, 7);            /* the caller's field: untouched */
	for (int i = 3; i < 6; i++)
		assert_int_equal(entry(pl_txq_pop(&q))->id, i);
	assert_int_equal(pl_txq_len(&q), 0);
}

/* A bound of 0 is taken as 1: the newest record is always held. */
static void test_bound_zero_is_one(void **st)
{
	struct rec a = { .id = 1 }, b = { .id = 2 };
	struct pl_txq q;

	pl_txq_init(&q);
	assert_null(pl_txq_push(&q, &a.link, 0));
	assert_ptr_equal(entry(pl_txq_push(&q, &b.link, 0)), &a);
	assert_int_equal(pl_txq_len(&q), 1);
	assert_ptr_equal(entry(pl_txq_head(&q)), &b);
}

/* The bound may shrink between pushes (a reload): one push evicts one record, so the queue
 * comes down to the new bound as records arrive, never all at once. */
static void test_bound_shrinks(void **st)
{
	struct rec r[6];
	struct pl_txq q;

	pl_txq_init(&q);
	for (int i = 0; i < 5; i++)
		assert_null(pl_txq_push(&q, &r[i].link, 5));
	assert_ptr_equal(entry(pl_txq_push(&q, &r[5].link, 2)), &r[0]);
	assert_int_equal(pl_txq_len(&q), 5);
	assert_ptr_equal(entry(pl_txq_head(&q)), &r[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_order),
		cmocka_unit_test(test_bound_evicts_oldest),
		cmocka_unit_test(test_bound_zero_is_one),
		cmocka_unit_test(test_bound_shrinks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
