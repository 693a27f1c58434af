// SPDX-License-Identifier: GPL-2.0
/* portfilter.bpf.c – socket filter for pktlog's capture socket: keeps TCP on the configured ports.
 *
 * Attached with SO_ATTACH_BPF to libpcap's AF_PACKET socket. Keeps a TCP segment when its
 * source or destination port is in `ports`, counts it per port in the per-CPU `counts`
 * array and returns how many bytes to keep (the snap length). Everything else returns 0
 * (dropped in the kernel). Reads the packet only through bpf_skb_load_bytes, which fails
 * rather than read past the end. Must not keep state beyond the counters. */
#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "pktlog/portfilter.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_TCP 6
#define IPV6_HLEN 40

/* port (host order) → counter slot, maintained by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PL_PF_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u32);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PL_PF_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct pl_pf_count);
} counts SEC(".maps");

/* Knobs the loader changes at run time through the mmapped .bss. armed starts at 0 so
 * that nothing slips into the ring between the attach and the first map fill. */
volatile __u32 armed;
volatile __u32 keep_bytes;
volatile __u32 lo_ifindex;   /* loopback shows each packet twice: drop the outgoing copy */
volatile __u32 l2_ethernet;  /* 1: data starts at an Ethernet header; 0: at the IP header */

static __always_inline int l3_offset(struct __sk_buff *skb, __u32 *off, __u16 *proto)
{
	__be16 type;

	if (!l2_ethernet) {
		*off = 0;
		*proto = bpf_ntohs(skb->protocol);
		return 0;
	}
	if (bpf_skb_load_bytes(skb, 12, &type, sizeof(type)) < 0)
		return -1;
	*off = ETH_HLEN;
	*proto = bpf_ntohs(type);
	if (*proto != ETH_P_8021Q && *proto != ETH_P_8021AD)
		return 0;
	/* One in-band tag; the inner type follows the 4-byte tag. */
	if (bpf_skb_load_bytes(skb, 16, &type, sizeof(type)) < 0)
		return -1;
	*off = ETH_HLEN + 4;
	*proto = bpf_ntohs(type);
	return 0;
}

/* Offset of the TCP header, or -1 when the packet is not (the first fragment of) TCP. */
static __always_inline int tcp_offset(struct __sk_buff *skb, __u32 off, __u16 proto)
{
	__u8 b[10];

	if (proto == ETH_P_IP) {
		if (bpf_skb_load_bytes(skb, off, b, sizeof(b)) < 0)
			return -1;
		if ((b[0] >> 4) != 4 || (b[0] & 0xf) < 5 || b[9] != IPPROTO_TCP)
			return -1;
		if (((b[6] & 0x1f) | b[7]) != 0)   /* a later fragment has no TCP header */
			return -1;
		return (int)(off + (b[0] & 0xf) * 4);
	}
	if (proto == ETH_P_IPV6) {
		if (bpf_skb_load_bytes(skb, off, b, 8) < 0)
			return -1;
		if ((b[0] >> 4) != 6 || b[6] != IPPROTO_TCP)
			return -1;
		return (int)(off + IPV6_HLEN);
	}
	return -1;
}

static __always_inline void count(__u32 slot, __u32 len)
{
	struct pl_pf_count *c = bpf_map_lookup_elem(&counts, &slot);

	if (!c)
		return;
	c->packets++;
	c->bytes += len;
}

SEC("socket")
int pl_portfilter(struct __sk_buff *skb)
{
	__u16 proto, sp[2];
	__u32 off, *slot;
	int l4;

	if (!armed)
		return 0;
	if (lo_ifindex && skb->ifindex == lo_ifindex && skb->pkt_type == PACKET_OUTGOING)
		return 0;
	if (l3_offset(skb, &off, &proto) < 0)
		return 0;
	l4 = tcp_offset(skb, off, proto);
	if (l4 < 0 || bpf_skb_load_bytes(skb, (__u32)l4, sp, sizeof(sp)) < 0)
		return 0;
	/* The server port is usually the destination of requests and the source of replies. */
	__u16 port = bpf_ntohs(sp[1]);
	slot = bpf_map_lookup_elem(&ports, &port);
	if (!slot) {
		port = bpf_ntohs(sp[0]);
		slot = bpf_map_lookup_elem(&ports, &port);
	}
	if (!slot)
		return 0;
	count(*slot, skb->len);
	return (int)keep_bytes;
}

char LICENSE[] SEC("license") = "GPL";
