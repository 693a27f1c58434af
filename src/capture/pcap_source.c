/* pcap_source.c – libpcap live and offline capture behind include/pktlog/capture.h.
 *
 * Owns the pcap handle and the classic BPF filter generated from the configured ports.
 * Live reads use a non-blocking handle and poll() with a timeout, since a blocking read
 * on a TPACKET_V3 ring can wait forever when no traffic comes. Must not decode frames. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pcap/pcap.h>
#include "pktlog/capture.h"

struct pl_capture {
	pcap_t *p;
	char *name;          /* file path or interface, for messages */
	FILE *file;          /* offline: the stream, for progress */
	uint64_t file_size;
	int linktype;
	bool live;
	bool nano;           /* timestamps are in ns */
	uint64_t frames;
	pl_frame_fn fn;
	void *arg;
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

size_t pl_capture_filter(const struct pl_config *cfg, char *out, size_t cap)
{
	char ports[4096];
	size_t n = 0;

	if (cfg->http.enabled)
		n = port_terms(ports, sizeof(ports), n, &cfg->http.ports);
	if (cfg->mysql.enabled)
		n = port_terms(ports, sizeof(ports), n, &cfg->mysql.ports);
	if (n >= sizeof(ports))
		return 0;
	if (!n)
		snprintf(ports, sizeof(ports), "tcp");
	/* "vlan" shifts the offsets of what follows it, so tagged frames need their own branch. */
	int w;
	if (cfg->capture.bpf_filter && *cfg->capture.bpf_filter)
		w = snprintf(out, cap, "((%s) or (vlan and (%s))) and (%s)", ports, ports,
			     cfg->capture.bpf_filter);
	else
		w = snprintf(out, cap, "(%s) or (vlan and (%s))", ports, ports);
	return w > 0 && (size_t)w < cap ? (size_t)w : 0;
}

struct pl_capture *pl_capture_open_live(const char *iface, const struct pl_config *cfg)
{
	char err[PCAP_ERRBUF_SIZE] = "";
	char filter[8192];
	struct bpf_program prog;
	struct pl_capture *c = cap_new(iface);
	int rc;

	if (!c)
		return NULL;
	c->live = true;
	c->p = pcap_create(iface, err);
	if (!c->p) {
		pl_err("interface %s: %s", iface, err);
		goto fail;
	}
	pcap_set_snaplen(c->p, (int)cfg->capture.snaplen);
	pcap_set_promisc(c->p, cfg->capture.promisc);
	pcap_set_timeout(c->p, 100);
	pcap_set_buffer_size(c->p, (int)(cfg->capture.buffer_mb * 1024 * 1024));
	pcap_set_tstamp_precision(c->p, PCAP_TSTAMP_PRECISION_NANO);
	rc = pcap_activate(c->p);
	if (rc == PCAP_ERROR_PERM_DENIED) {
		pl_err("interface %s: permission denied: pktlog needs CAP_NET_RAW "
		       "(run as root or grant it: setcap cap_net_raw,cap_net_admin+ep pktlog)", iface);
		goto fail;
	}
	if (rc < 0) {
		pl_err("interface %s: %s", iface, pcap_geterr(c->p));
		goto fail;
	}
	if (rc > 0)
		pl_warn("interface %s: %s", iface, pcap_statustostr(rc));
	c->nano = pcap_get_tstamp_precision(c->p) == PCAP_TSTAMP_PRECISION_NANO;
	c->linktype = pcap_datalink(c->p);
	if (!pl_capture_filter(cfg, filter, sizeof(filter))) {
		pl_err("interface %s: capture filter too long", iface);
		goto fail;
	}
	pl_info("interface %s: capture filter: %s", iface, filter);
	if (pcap_compile(c->p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		pl_err("capture.bpf_filter: invalid filter \"%s\": %s", filter, pcap_geterr(c->p));
		goto fail;
	}
	rc = pcap_setfilter(c->p, &prog);
	pcap_freecode(&prog);
	if (rc != 0) {
		pl_err("interface %s: cannot set filter: %s", iface, pcap_geterr(c->p));
		goto fail;
	}
	if (pcap_setnonblock(c->p, 1, err) != 0) {
		pl_err("interface %s: %s", iface, err);
		goto fail;
	}
	return c;
fail:
	pl_capture_close(c);
	return NULL;
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
	free(c->name);
	free(c);
}
