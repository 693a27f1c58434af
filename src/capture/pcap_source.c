/* pcap_source.c – libpcap live and offline capture behind include/pktlog/capture.h.
 *
 * Owns the pcap handles, their PACKET_FANOUT group and the filter: the classic BPF filter
 * generated from the configured ports, or the eBPF port filter (ebpf_filter.c), never
 * both, since a later pcap_setfilter silently replaces an attached eBPF program.
 * Live reads use a non-blocking handle and poll() with a timeout, since a blocking read
 * on a TPACKET_V3 ring can wait forever when no traffic comes. Must not decode frames. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include "pktlog/capture.h"
#include "pktlog/portfilter.h"
#include "pktlog/registry.h"
#include "ebpf_filter.h"

struct pl_capture {
	pcap_t *p;
	char *name;          /* file path or interface, for messages */
	FILE *file;          /* offline: the stream, for progress */
	char *iobuf;         /* offline: its buffer (stdio's 4 KiB would mean a read() per 4 KiB) */
	uint64_t file_size;
	int linktype;
	bool live;
	bool nano;           /* timestamps are in ns */
	uint64_t frames;
	pl_frame_fn fn;
	void *arg;
	bool ebpf;           /* filtered by the group's eBPF program */
	struct pl_ebpf *bpf; /* set on the one handle that owns the program */
};

static void on_frame(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	struct pl_capture *c = (struct pl_capture *)user;
	uint64_t ts = (uint64_t)h->ts.tv_sec * PL_NS_PER_SEC +
		      (uint64_t)h->ts.tv_usec * (c->nano ? 1 : 1000);

	c->frames++;
	c->fn(c->arg, bytes, h->caplen, h->len, ts, c->linktype);
}

static struct pl_capture *cap_new(const char *name)
{
	struct pl_capture *c = calloc(1, sizeof(*c));

	if (c && !(c->name = strdup(name))) {
		free(c);
		c = NULL;
	}
	return c;
}

#define PL_CAPTURE_FILE_BUF (1u << 20)

struct pl_capture *pl_capture_open_file(const char *path)
{
	char err[PCAP_ERRBUF_SIZE] = "";
	struct pl_capture *c = cap_new(path);
	struct stat st;

	if (!c)
		return NULL;
	c->file = fopen(path, "rb");
	if (!c->file) {
		pl_err("%s: cannot open capture file: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fileno(c->file), &st) == 0)
		c->file_size = (uint64_t)st.st_size;
	c->iobuf = malloc(PL_CAPTURE_FILE_BUF);
	if (c->iobuf)
		setvbuf(c->file, c->iobuf, _IOFBF, PL_CAPTURE_FILE_BUF);
	/* Only the replaying thread touches this stream (reads and the progress line's ftell):
	 * no lock per fread (libpcap makes two per packet). */
	__fsetlocking(c->file, FSETLOCKING_BYCALLER);
	c->p = pcap_fopen_offline_with_tstamp_precision(c->file, PCAP_TSTAMP_PRECISION_NANO, err);
	if (!c->p) {
		pl_err("%s: not a readable pcap or pcapng capture: %s", path, err);
		fclose(c->file);
		c->file = NULL;
		goto fail;
	}
	c->nano = pcap_get_tstamp_precision(c->p) == PCAP_TSTAMP_PRECISION_NANO;
	c->linktype = pcap_datalink(c->p);
	return c;
fail:
	free(c->iobuf);
	free(c->name);
	free(c);
	return NULL;
}

static size_t port_terms(char *out, size_t cap, size_t n, const struct pl_port_list *l)
{
	for (int i = 0; i < l->n && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%stcp port %u", n ? " or " : "", l->port[i]);
	return n;
}

/* with_vlan: add the branch for 802.1Q-tagged frames, which only Ethernet link types have
 * (libpcap refuses "vlan" on Linux cooked captures, e.g. on "any"). */
static size_t filter_text(const struct pl_config *cfg, bool with_vlan, char *out, size_t cap)
{
	char ports[4096];
	size_t n = 0;

	for (size_t p = 0; p < pl_n_protocols; p++)
		if (pl_proto_enabled(cfg, &pl_protocols[p]))
			n = port_terms(ports, sizeof(ports), n, pl_proto_ports(cfg, &pl_protocols[p]));
	if (n >= sizeof(ports))
		return 0;
	if (!n)
		snprintf(ports, sizeof(ports), "tcp");
	/* "vlan" shifts the offsets of what follows it, so tagged frames need their own branch. */
	int w;
	bool user = cfg->capture.bpf_filter && *cfg->capture.bpf_filter;
	if (with_vlan && user)
		w = snprintf(out, cap, "((%s) or (vlan and (%s))) and (%s)", ports, ports,
			     cfg->capture.bpf_filter);
	else if (with_vlan)
		w = snprintf(out, cap, "(%s) or (vlan and (%s))", ports, ports);
	else if (user)
		w = snprintf(out, cap, "(%s) and (%s)", ports, cfg->capture.bpf_filter);
	else
		w = snprintf(out, cap, "%s", ports);
	return w > 0 && (size_t)w < cap ? (size_t)w : 0;
}

size_t pl_capture_filter(const struct pl_config *cfg, char *out, size_t cap)
{
	return filter_text(cfg, true, out, cap);
}

static size_t handle_filter(const struct pl_capture *c, const struct pl_config *cfg, char *out, size_t cap)
{
	return filter_text(cfg, c->linktype == DLT_EN10MB, out, cap);
}

/* Collect the configured ports, the set both filters are built from, each once (a port
 * shared on purpose, http2 over http, takes one slot). The config refuses more distinct
 * ports than PL_PF_MAX_PORTS (config.c: check_port_total), so cap is never reached. */
static int config_ports(const struct pl_config *cfg, uint16_t *ports, int cap)
{
	int n = 0;

	for (size_t p = 0; p < pl_n_protocols; p++) {
		const struct pl_port_list *l = pl_proto_ports(cfg, &pl_protocols[p]);

		for (int i = 0; pl_proto_enabled(cfg, &pl_protocols[p]) && i < l->n && n < cap; i++) {
			int j;

			for (j = 0; j < n && ports[j] != l->port[i]; j++)
				;
			if (j == n)
				ports[n++] = l->port[i];
		}
	}
	return n;
}

static pcap_t *activate(const char *iface, const struct pl_config *cfg)
{
	char err[PCAP_ERRBUF_SIZE] = "";
	pcap_t *p = pcap_create(iface, err);
	int rc;

	if (!p) {
		pl_err("interface %s: %s", iface, err);
		return NULL;
	}
	pcap_set_snaplen(p, (int)cfg->capture.snaplen);
	pcap_set_promisc(p, cfg->capture.promisc);
	pcap_set_timeout(p, 100);
	pcap_set_immediate_mode(p, cfg->capture.immediate);
	pcap_set_buffer_size(p, (int)(cfg->capture.buffer_mb * 1024 * 1024));
	pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
	rc = pcap_activate(p);
	if (rc == PCAP_ERROR_PERM_DENIED) {
		pl_err("interface %s: permission denied: pktlog needs CAP_NET_RAW "
		       "(run as root or grant it: setcap cap_net_raw,cap_net_admin,cap_bpf+ep pktlog)", iface);
	} else if (rc == PCAP_ERROR_NO_SUCH_DEVICE) {
		pl_err("interface %s: no such interface", iface);
	} else if (rc < 0) {
		pl_err("interface %s: %s", iface, pcap_geterr(p));
	} else {
		if (rc > 0)
			pl_warn("interface %s: %s", iface, pcap_statustostr(rc));
		return p;
	}
	pcap_close(p);
	return NULL;
}

static int set_classic_filter(struct pl_capture *c, const struct pl_config *cfg, bool quiet)
{
	char filter[8192];
	struct bpf_program prog;
	int rc;

	if (!handle_filter(c, cfg, filter, sizeof(filter))) {
		pl_err("interface %s: capture filter too long", c->name);
		return -1;
	}
	if (!quiet)
		pl_info("interface %s: capture filter: %s", c->name, filter);
	if (pcap_compile(c->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		pl_err("capture.bpf_filter: invalid filter \"%s\": %s", filter, pcap_geterr(c->p));
		return -1;
	}
	rc = pcap_setfilter(c->p, &prog);
	pcap_freecode(&prog);
	if (rc != 0) {
		pl_err("interface %s: cannot set filter: %s", c->name, pcap_geterr(c->p));
		return -1;
	}
	return 0;
}

/* Validate the classic expression even when eBPF will filter, so a bad bpf_filter
 * fails the same way on both paths. */
static int check_classic_filter(struct pl_capture *c, const struct pl_config *cfg)
{
	char filter[8192];
	struct bpf_program prog;

	if (!handle_filter(c, cfg, filter, sizeof(filter))) {
		pl_err("interface %s: capture filter too long", c->name);
		return -1;
	}
	if (pcap_compile(c->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		pl_err("capture.bpf_filter: invalid filter \"%s\": %s", filter, pcap_geterr(c->p));
		return -1;
	}
	pcap_freecode(&prog);
	return 0;
}

static int join_fanout(struct pl_capture *c, uint16_t group)
{
	int arg = (int)group | (PACKET_FANOUT_HASH << 16);

	if (setsockopt(pcap_get_selectable_fd(c->p), SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) != 0) {
		pl_err("interface %s: cannot join PACKET_FANOUT group: %s", c->name, strerror(errno));
		return -1;
	}
	return 0;
}

static void discard(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	(void)user, (void)h, (void)bytes;
}

/* Frames queued before the filter took effect passed no filter at all. A TPACKET_V3
 * block becomes readable only when it retires (the 100 ms timeout), so keep reading for
 * a little longer than that. */
static void drain(struct pl_capture **cs, int n)
{
	const struct timespec step = { 0, 20 * 1000000L };

	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < n; i++)
			while (pcap_dispatch(cs[i]->p, -1, discard, NULL) > 0)
				;
		nanosleep(&step, NULL);
	}
}

/* Decide whether the group uses eBPF; NULL means classic BPF (already explained). */
static struct pl_ebpf *load_ebpf(const char *iface, const struct pl_config *cfg, int linktype, bool *fatal)
{
	char why[256] = "";
	struct pl_ebpf *e;

	*fatal = false;
	if (cfg->capture.ebpf == PL_EBPF_OFF)
		return NULL;
	if (cfg->capture.bpf_filter && *cfg->capture.bpf_filter) {
		if (cfg->capture.ebpf == PL_EBPF_ON) {
			pl_err("interface %s: capture.ebpf is on but capture.bpf_filter is set: "
			       "the eBPF filter cannot apply a pcap-filter expression", iface);
			*fatal = true;
		} else {
			pl_info("interface %s: capture.bpf_filter is set: using classic BPF", iface);
		}
		return NULL;
	}
	e = pl_ebpf_open(linktype == DLT_EN10MB, cfg->capture.snaplen, why, sizeof(why));
	if (e)
		return e;
	if (cfg->capture.ebpf == PL_EBPF_ON) {
		pl_err("interface %s: capture.ebpf is on but the eBPF filter cannot be used: %s "
		       "(it needs CAP_BPF or root and a kernel with BPF socket filters)", iface, why);
		*fatal = true;
	} else {
		pl_warn("interface %s: eBPF pre-filter unavailable (%s); using classic BPF", iface, why);
	}
	return NULL;
}

static int attach_ebpf(struct pl_capture **cs, int n, struct pl_ebpf *e, const struct pl_config *cfg)
{
	uint16_t ports[PL_PF_MAX_PORTS];
	int np = config_ports(cfg, ports, (int)PL_ARRAY_LEN(ports));

	for (int i = 0; i < n; i++) {
		int rc = pl_ebpf_attach(e, pcap_get_selectable_fd(cs[i]->p));
		if (rc != 0) {
			pl_err("interface %s: cannot attach the eBPF filter: %s", cs[i]->name, strerror(-rc));
			return -1;
		}
		cs[i]->ebpf = true;
	}
	drain(cs, n);
	if (pl_ebpf_set_ports(e, ports, np) != 0)
		return -1;
	cs[0]->bpf = e;
	pl_ebpf_arm(e, true);
	pl_info("interface %s: eBPF port filter on %d port(s), %d socket(s)", cs[0]->name, np, n);
	return 0;
}

static struct pl_capture *open_one(const char *iface, const struct pl_config *cfg)
{
	char err[PCAP_ERRBUF_SIZE] = "";
	struct pl_capture *c = cap_new(iface);

	if (!c)
		return NULL;
	c->live = true;
	c->p = activate(iface, cfg);
	if (!c->p)
		goto fail;
	c->nano = pcap_get_tstamp_precision(c->p) == PCAP_TSTAMP_PRECISION_NANO;
	c->linktype = pcap_datalink(c->p);
	if (check_classic_filter(c, cfg) != 0)
		goto fail;
	if (pcap_setnonblock(c->p, 1, err) != 0) {
		pl_err("interface %s: %s", iface, err);
		goto fail;
	}
	return c;
fail:
	pl_capture_close(c);
	return NULL;
}

static void close_group(struct pl_capture **out, int n)
{
	for (int i = 0; i < n; i++) {
		pl_capture_close(out[i]);
		out[i] = NULL;
	}
}

int pl_capture_open_live_group(const char *iface, const struct pl_config *cfg,
			       struct pl_capture **out, int n)
{
	struct pl_ebpf *e = NULL;
	bool fatal = false;
	int i;

	memset(out, 0, (size_t)n * sizeof(*out));
	for (i = 0; i < n; i++)
		if (!(out[i] = open_one(iface, cfg)))
			goto fail;
	/* Group ids are per network namespace; the pid keeps two pktlogs apart. */
	for (i = 0; n > 1 && i < n; i++)
		if (join_fanout(out[i], (uint16_t)getpid()) != 0)
			goto fail;
	e = load_ebpf(iface, cfg, out[0]->linktype, &fatal);
	if (fatal)
		goto fail;
	if (e) {
		if (attach_ebpf(out, n, e, cfg) != 0)
			goto fail;
		return 0;
	}
	for (i = 0; i < n; i++)
		if (set_classic_filter(out[i], cfg, i > 0) != 0)
			goto fail;
	return 0;
fail:
	if (e && !(out[0] && out[0]->bpf == e))
		pl_ebpf_close(e);
	close_group(out, n);
	return -1;
}

struct pl_capture *pl_capture_open_live(const char *iface, const struct pl_config *cfg)
{
	struct pl_capture *c;

	return pl_capture_open_live_group(iface, cfg, &c, 1) == 0 ? c : NULL;
}

int pl_capture_update_ports(struct pl_capture *c, const struct pl_config *cfg)
{
	uint16_t ports[PL_PF_MAX_PORTS];

	if (!c->live)
		return 0;
	if (c->bpf) {
		int n = config_ports(cfg, ports, (int)PL_ARRAY_LEN(ports));
		if (pl_ebpf_set_ports(c->bpf, ports, n) != 0)
			return -1;
		pl_info("interface %s: eBPF port filter now on %d port(s)", c->name, n);
		return 0;
	}
	if (c->ebpf)
		return 0;   /* the group's owner updates the shared map */
	return set_classic_filter(c, cfg, false);
}

void pl_capture_counters(struct pl_capture *c, struct pl_capture_counters *out)
{
	struct pl_ebpf_port_count pc[PL_PF_MAX_PORTS];
	struct pcap_stat ps;

	memset(out, 0, sizeof(*out));
	if (!c->live)
		return;
	if (pcap_stats(c->p, &ps) == 0) {
		out->received = ps.ps_recv;
		out->kernel_drops = ps.ps_drop;
		out->if_drops = ps.ps_ifdrop;
	}
	out->ebpf = c->ebpf;
	if (!c->bpf)
		return;
	int n = pl_ebpf_counts(c->bpf, pc, (int)PL_ARRAY_LEN(pc));
	for (int i = 0; i < n; i++) {
		out->ebpf_packets += pc[i].packets;
		out->ebpf_bytes += pc[i].bytes;
	}
}

void pl_capture_print_ports(struct pl_capture *c, FILE *f)
{
	struct pl_ebpf_port_count pc[PL_PF_MAX_PORTS];
	int n;

	if (!c->bpf)
		return;
	n = pl_ebpf_counts(c->bpf, pc, (int)PL_ARRAY_LEN(pc));
	for (int i = 0; i < n; i++)
		fprintf(f, "pktlog: eBPF filter: port %u: %llu packets, %llu bytes\n", pc[i].port,
			(unsigned long long)pc[i].packets, (unsigned long long)pc[i].bytes);
}

int pl_capture_next(struct pl_capture *c, int max, int timeout_ms, pl_frame_fn fn, void *arg)
{
	c->fn = fn;
	c->arg = arg;
	if (c->live) {
		int n = pcap_dispatch(c->p, max, on_frame, (u_char *)c);
		if (n != 0)
			goto out_live;
		struct pollfd pfd = { .fd = pcap_get_selectable_fd(c->p), .events = POLLIN };
		if (pfd.fd >= 0 && poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) {
			pl_err("interface %s: poll: %s", c->name, strerror(errno));
			return PL_CAPTURE_ERROR;
		}
		n = pcap_dispatch(c->p, max, on_frame, (u_char *)c);
out_live:
		if (n < 0) {
			pl_err("interface %s: %s", c->name, pcap_geterr(c->p));
			return PL_CAPTURE_ERROR;
		}
		return n;
	}
	int n = pcap_dispatch(c->p, max, on_frame, (u_char *)c);
	if (n == 0)
		return PL_CAPTURE_EOF;
	if (n == PCAP_ERROR) {
		pl_err("%s: capture file is damaged after %llu frames: %s", c->name,
		       (unsigned long long)c->frames, pcap_geterr(c->p));
		return PL_CAPTURE_ERROR;
	}
	return n;
}

uint64_t pl_capture_drops(struct pl_capture *c)
{
	struct pcap_stat ps;

	if (!c->live || pcap_stats(c->p, &ps) != 0)
		return 0;
	return (uint64_t)ps.ps_drop + ps.ps_ifdrop;
}

int pl_capture_linktype(const struct pl_capture *c)
{
	return c->linktype;
}

void pl_capture_progress(struct pl_capture *c, uint64_t *done, uint64_t *total)
{
	long pos = c->file ? ftell(c->file) : 0;

	*done = pos > 0 ? (uint64_t)pos : 0;
	*total = c->file_size;
}

void pl_capture_close(struct pl_capture *c)
{
	if (!c)
		return;
	if (c->p)
		pcap_close(c->p);   /* also closes an offline FILE */
	free(c->iobuf);         /* after the FILE that used it */
	pl_ebpf_close(c->bpf);  /* after the sockets: nothing uses the program any more */
	free(c->name);
	free(c);
}
