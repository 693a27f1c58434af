/* txq.c – the pending-transaction queue (txq.h): a bounded intrusive FIFO of a connection's
 * records. Owns linking, unlinking and the bound; never allocates, frees or counts drops. */
#include "txq.h"

struct pl_txq_node *pl_txq_pop(struct pl_txq *q)
{
	struct pl_txq_node *node = q->head;

	if (!node)
		return NULL;
	q->head = node->next;
	if (!q->head)
		q->tail = NULL;
	node->next = NULL;
	q->n--;
	return node;
}

struct pl_txq_node *pl_txq_push(struct pl_txq *q, struct pl_txq_node *node, uint32_t bound)
{
	struct pl_txq_node *evicted = NULL;

	if (q->n >= (bound ? bound : 1))
		evicted = pl_txq_pop(q);
	node->next = NULL;
	if (q->tail)
		q->tail->next = node;
	else
		q->head = node;
	q->tail = node;
	q->n++;
	return evicted;
}
