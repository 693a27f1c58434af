/* event.c – small helpers on struct pl_event (its start from a connection, error notes).
 * Rendering lives in json.c. */
#include <string.h>
#include "pktlog/event.h"
#include "pktlog/proto.h"

void pl_event_begin(struct pl_event *ev, enum pl_event_type type, const struct pl_conn *conn)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->af = conn->af;
	memcpy(ev->client.ip, conn->client_ip, sizeof(ev->client.ip));
	memcpy(ev->server.ip, conn->server_ip, sizeof(ev->server.ip));
	ev->client.port = conn->client_port;
	ev->server.port = conn->server_port;
	ev->community_id = conn->community_id;
}

void pl_event_add_error(struct pl_event *ev, const char *msg)
{
	if (ev->n_errors >= PL_EVENT_MAX_ERRORS)
		return;
	ev->errors[ev->n_errors++] = (struct pl_str){ msg, strlen(msg) };
}
