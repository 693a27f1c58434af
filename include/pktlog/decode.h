/* decode.h – link, network and transport headers of one captured frame → one TCP segment.
 *
 * Contract (capture → decode): the frame is (frame, caplen) as libpcap hands it, with
 * the pcap DLT link type. pl_decode() never reads past frame + caplen and never
 * allocates; on success the packet's payload pointer borrows from the frame. */
#ifndef PKTLOG_DECODE_H
#define PKTLOG_DECODE_H

#include "pktlog/common.h"

/* Why a frame was not turned into a TCP segment. Every value is counted in stats. */
enum pl_decode_result {
	PL_DEC_OK = 0,
	PL_DEC_TRUNCATED,      /* caplen ends inside a link, IP or TCP header */
	PL_DEC_BAD_LINKTYPE,   /* a DLT pktlog does not decode */
	PL_DEC_NOT_IP,         /* ARP, LLDP, … (an ethertype/protocol family that is not IPv4/IPv6) */
	PL_DEC_BAD_IP,         /* wrong version, header length or total length smaller than the header */
	PL_DEC_FRAGMENT,       /* an IPv4 fragment or an IPv6 fragment header */
	PL_DEC_NOT_TCP,        /* UDP, ICMP, … */
	PL_DEC_BAD_TCP,        /* TCP data offset < 5 or beyond the IP payload */
	PL_DEC__COUNT
};

/* One decoded TCP segment. Addresses are in network byte order; an IPv4 address
 * occupies the first 4 bytes of src/dst and the remaining 12 are zero. */
struct pl_packet {
	uint8_t af;               /* 4 or 6 */
	uint8_t tcp_flags;        /* PL_TCP_* */
	uint16_t sport, dport;    /* host byte order */
	uint8_t src[16], dst[16];
	uint32_t seq, ack;        /* host byte order */
	uint16_t window;
	const uint8_t *payload;   /* captured payload bytes; borrowed from the frame */
	uint32_t payload_len;     /* bytes of payload present in the capture */
	uint32_t payload_wire_len;/* payload length per the IP header (>= payload_len when snaplen cut it) */
	uint64_t ts_ns;           /* capture time, ns since the epoch (set by the caller) */
};

#define PL_TCP_FIN 0x01
#define PL_TCP_SYN 0x02
#define PL_TCP_RST 0x04
#define PL_TCP_PSH 0x08
#define PL_TCP_ACK 0x10

/* Decode one frame of DLT `linktype`. Supported: DLT_EN10MB (with 802.1Q, 802.1ad / QinQ
 * tags), DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL and DLT_LOOP (BSD loopback, either byte
 * order), DLT_RAW / LINKTYPE_RAW (101), DLT_IPV4 (228), DLT_IPV6 (229).
 * IPv6 extension headers (hop-by-hop, routing, destination options, AH) are skipped;
 * a fragment header yields PL_DEC_FRAGMENT.
 * Returns PL_DEC_OK and fills *pkt (except ts_ns), or another pl_decode_result.
 * With fast_path (the caller's config: tuning.fast_paths, true unless a differential test
 * turns it off) it first tries pl_decode_fast(), a straight path for the common frame
 * (Ethernet II or Linux SLL, untagged → IPv4 without options or IPv6 without extension
 * headers → TCP, headers whole); the result is the same either way. */
int pl_decode(const uint8_t *frame, uint32_t caplen, int linktype, bool fast_path,
	      struct pl_packet *pkt);

/* Test hook: pl_decode_fast() returns PL_DEC_OK with *pkt filled exactly as pl_decode()
 * fills it, or -1 for any other frame, leaving *pkt partly written. */
int pl_decode_fast(const uint8_t *frame, uint32_t caplen, int linktype, struct pl_packet *pkt);

/* Short stable name of a result, for stats and messages ("truncated", "not_tcp", …). */
const char *pl_decode_result_name(int result);

#endif
