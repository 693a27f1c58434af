/* event.c – small helpers on struct pl_event (error notes). Rendering lives in json.c. */
#include <string.h>
#include "pktlog/event.h"

void pl_event_add_error(struct pl_event *ev, const char *msg)
{
	if (ev->n_errors >= PL_EVENT_MAX_ERRORS)
		return;
	ev->errors[ev->n_errors++] = (struct pl_str){ msg, strlen(msg) };
}
