/* community_id.h – Community ID v1 flow hashes (src/net/community_id.c).
 *
 * A property of the connection's 5-tuple, computed once by the flow layer when it takes a
 * connection up; events carry the string the flow owns. */
#ifndef PKTLOG_COMMUNITY_ID_H
#define PKTLOG_COMMUNITY_ID_H

#include "pktlog/common.h"

/* Community ID v1 (seed 0) of a TCP connection, written as a NUL-terminated
 * "1:<base64 sha1>" into out (at least PL_COMMUNITY_ID_LEN bytes). */
#define PL_COMMUNITY_ID_LEN 32
void pl_community_id(uint8_t af, const uint8_t *saddr, uint16_t sport,
		     const uint8_t *daddr, uint16_t dport, char *out);

#endif
