/* ports.c – port lookup: a connection's server port → the protocol that serves it.
 *
 * Reads the protocols' port lists from the config through the registry's rows
 * (pktlog/registry.h); knows no protocol by name. */
#include "pktlog/registry.h"

/* Rows that may share ports with another (registry.h: over) are asked first. */
const struct pl_proto_desc *pl_proto_for_port(const struct pl_config *cfg, uint16_t port)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < pl_n_protocols; i++) {
			const struct pl_proto_desc *p = &pl_protocols[i];

			if ((p->over != NULL) == (pass == 0) && pl_proto_enabled(cfg, p) &&
			    pl_port_list_has(pl_proto_ports(cfg, p), port))
				return p;
		}
	}
	return NULL;
}
