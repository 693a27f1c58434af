/* main.c – pktlog's command line, configuration, wiring, signals and lifecycle.
 *
 * Wires capture → decode → flows → protocols → JSON → output and owns the process:
 * options, exit status, signals, the end-of-run summary. Holds no protocol logic. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include "pktlog/capture.h"
#include "pktlog/config.h"
#include "pktlog/decode.h"
#include "pktlog/event.h"
#include "pktlog/flow.h"
#include "pktlog/heartbeat.h"
#include "pktlog/metrics.h"
#include "pktlog/output.h"
#include "pktlog/stats.h"
#include "pktlog/tail.h"

#define EXIT_USAGE 2
#define PL_RENDER_BUF (256 * 1024)
#define PL_FILE_BATCH 4096

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;   /* SIGHUP */
static volatile sig_atomic_t counters_requested; /* SIGUSR1 */
/* Capture workers share the one output: every call into it holds this lock. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

struct pipeline {
	struct pl_config cfg;
	struct pl_stats stats;
	struct pl_proto_env env;
	struct pl_flow_table *flows;
	struct pl_output *out;
	struct pl_json_opts json;
	char host_name[256];
	char *render;
};

/* output.kafka.topic expanded per event type; SIGHUP replaces them, so they are read and
 * swapped only under out_lock. */
static struct {
	char *http, *mysql, *log;
} topics;

/* What the command line overrides, applied again to a configuration reloaded on SIGHUP. */
static struct {
	const char *output, *data_dir;
	const char **tails;
	int n_tails;
} cli;

/* Counters, the metrics endpoint, heartbeats and SIGUSR1, every second or so. */
static void service_tick(struct pipeline *pl, bool heartbeats);
/* SIGHUP: re-read the configuration file and apply what can change while running. */
static void reload_config(struct pipeline *pl);

static const char usage_text[] =
"Usage: pktlog [--config FILE] [--data-dir DIR] [-v] [--output console|null|file:PATH]\n"
"              (--iface IF | --pcap FILE... | --tail PATTERN...)\n"
"       pktlog --help | --version\n";

static const char help_text[] =
"\n"
"pktlog turns the HTTP traffic a host serves into access-log events, without touching\n"
"the servers: it captures packets (live with libpcap, or from capture files), reassembles\n"
"each TCP connection, pairs requests with responses and writes one Packetbeat-style (ECS)\n"
"JSON event per transaction.\n"
"\n"
"Sources (at least one):\n"
"  -i, --iface IF        capture live on interface IF ('any' for all, 'lo' for loopback).\n"
"                        Needs CAP_NET_RAW. Without --iface or --pcap, capture.interface\n"
"                        from the config file is used.\n"
"  -r, --pcap FILE...    replay capture files (pcap or pcapng) in order, exactly as a live\n"
"                        capture would be processed, timed by the packets' own timestamps.\n"
"                        Further non-option arguments are taken as more files. Connections\n"
"                        continue across the files (as with rotated tcpdump -C files);\n"
"                        requests still unanswered at the end are reported as\n"
"                        \"Unmatched request\" events.\n"
"  -t, --tail PATTERN    follow the files PATTERN matches (a glob; \"**\" descends into\n"
"                        subdirectories; quote it) and send each line as an event with\n"
"                        log.file.path and log.offset. Repeatable; adds to tail.inputs of\n"
"                        the config file. Offsets of delivered lines are kept in\n"
"                        DIR/tail.db (--data-dir), so a restart resumes where the output\n"
"                        stopped acknowledging. Runs until SIGTERM; may be combined with\n"
"                        --iface or --pcap.\n"
"\n"
"Options:\n"
"  -c, --config FILE     read configuration from FILE (YAML; see conf/pktlog.yml, which\n"
"                        documents every option and its default). Without it the built-in\n"
"                        defaults apply.\n"
"  -d, --data-dir DIR    directory for pktlog's state (default /var/lib/pktlog).\n"
"  -o, --output OUT      where events go, overriding the config file:\n"
"                          console    JSON lines on standard output (the default)\n"
"                          null       discard (for measuring)\n"
"                          file:PATH  append JSON lines to PATH\n"
"  -v, --verbose         log more (repeat for debug); prints the capture filter and a\n"
"                        summary of the counters at exit.\n"
"  -h, --help            show this help and exit.\n"
"  -V, --version         print the version and exit.\n"
"\n"
"Signals: SIGTERM and SIGINT stop cleanly (pending transactions are reported, output is\n"
"flushed; with Kafka, in-flight events get output.kafka.flush_timeout to be delivered and\n"
"the rest are kept in the spool under --data-dir for the next start).\n"
"SIGHUP re-reads the configuration file and applies, without a restart: protocol ports\n"
"(the eBPF port map or the classic filter of a live capture is updated, capture is not\n"
"reopened); tail inputs added or removed, with their fields, topics and multiline rules\n"
"(followed files keep their offsets, new inputs honour start_position, removed inputs stop\n"
"after their delivered offsets are committed); tail.close_*, commit_interval and\n"
"read_buffer_bytes; output.kafka.topic; metrics.heartbeat, heartbeat_interval and\n"
"heartbeat_topic. Everything else (capture.*, output type, brokers and key, data_dir,\n"
"metrics.listen, host_name, app_id, tail.max_inflight, protocol options other than ports)\n"
"needs a restart; a changed one is named in a warning. A file that does not validate is\n"
"reported and the running configuration stays.\n"
"\n"
"Live capture: after the capture sockets are open pktlog switches to capture.user (default\n"
"nobody) and drops every capability; capture.workers threads share the traffic by flow.\n"
"\n"
"Kafka: when output.kafka.brokers is set in the config file and --output is not given,\n"
"events go to Kafka (see conf/pktlog.yml).\n"
"\n"
"Exit status: 0 clean stop; 1 runtime failure (an unreadable or damaged capture file,\n"
"an interface that cannot be opened, an output that cannot be written); 2 usage or\n"
"configuration error.\n"
"\n"
"Diagnostics go to standard error.\n";

static void on_hup(int sig)
{
	(void)sig;
	reload_requested = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	counters_requested = 1;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* output.kafka.key for one event; NULL = no key. */
static const char *event_key(const struct pl_event *ev, const struct pl_config *cfg,
			     char *buf, size_t len)
{
	switch (cfg->output.kafka.key) {
	case PL_KAFKA_KEY_COMMUNITY_ID:
		return ev->community_id;
	case PL_KAFKA_KEY_CLIENT_IP:
		return inet_ntop(ev->af == 6 ? AF_INET6 : AF_INET, ev->client.ip, buf, (socklen_t)len);
	default:
		return NULL;
	}
}

static void swap_str(char **a, char **b)
{
	char *t = *a;

	*a = *b;
	*b = t;
}

/* output.kafka.topic with %{type} replaced; NULL on ENOMEM. */
static char *expand_topic(const char *fmt, const char *type)
{
	const char *at = strstr(fmt, "%{type}");
	char *out = NULL;

	if (!at)
		return strdup(fmt);
	if (asprintf(&out, "%.*s%s%s", (int)(at - fmt), fmt, type, at + 7) < 0)
		return NULL;
	return out;
}

/* Expand fmt for every event type and swap it in; the old names stay on failure. */
static int topics_set(const char *fmt)
{
	char *h = expand_topic(fmt, "http"), *m = expand_topic(fmt, "mysql");
	char *l = expand_topic(fmt, "log");

	if (h && m && l) {
		pthread_mutex_lock(&out_lock);
		swap_str(&topics.http, &h);
		swap_str(&topics.mysql, &m);
		swap_str(&topics.log, &l);
		pthread_mutex_unlock(&out_lock);
	}
	free(h);
	free(m);
	free(l);
	return topics.http && topics.mysql && topics.log ? 0 : -1;
}

static void emit_event(const struct pl_event *ev, void *arg)
{
	struct pipeline *pl = arg;
	size_t n = pl_event_to_json(ev, &pl->json, pl->render, PL_RENDER_BUF);
	char keybuf[INET6_ADDRSTRLEN];
	const char *key = NULL, *topic;

	if (!n) {
		pl->stats.events_truncated++;
		return;
	}
	pl->stats.events++;
	if (pl->cfg.output.type == PL_OUTPUT_KAFKA)
		key = event_key(ev, &pl->cfg, keybuf, sizeof(keybuf));
	pthread_mutex_lock(&out_lock);
	topic = ev->type == PL_EV_MYSQL ? topics.mysql : topics.http;
	pl_output_publish(pl->out, pl->render, n, key, topic, NULL);
	pthread_mutex_unlock(&out_lock);
}

static void on_frame(void *arg, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
		     uint64_t ts_ns, int linktype)
{
	struct pipeline *pl = arg;
	struct pl_packet pkt;
	int rc = pl_decode(frame, caplen, linktype, &pkt);

	pl->stats.packets++;
	pl->stats.bytes += caplen;
	pl->stats.decode[rc]++;
	if (rc != PL_DEC_OK)
		return;
	pkt.ts_ns = ts_ns;
	pl_flow_packet(pl->flows, &pkt);
}

/* Long replays on a terminal: how far, how fast, how many events (stderr only). */
struct progress {
	bool on;
	uint64_t start_ns, next_ns;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void progress_show(struct progress *pg, struct pl_capture *c, const struct pipeline *pl,
			  const char *path, bool last)
{
	uint64_t now = mono_ns(), done, total;

	if (!pg->on || (!last && now < pg->next_ns))
		return;
	pg->next_ns = now + PL_NS_PER_SEC / 4;
	pl_capture_progress(c, &done, &total);
	double secs = (double)(now - pg->start_ns) / 1e9;
	fprintf(stderr, "\r%s: %3.0f%% (%.1f of %.1f MB), %.0f packets/s, %llu events, %.1f s%s",
		path, total ? 100.0 * (double)done / (double)total : 0.0, (double)done / 1e6,
		(double)total / 1e6, secs > 0 ? (double)pl->stats.packets / secs : 0.0,
		(unsigned long long)pl->stats.events, secs, last ? "\n" : "   ");
}

/* What a replayed file could not decode, per reason (the counters have them too): frames
 * that are damaged or of an unsupported link type are named at the end of the file, and
 * a file of which not one frame decoded is a failure (1). Frames that are not IP or not
 * TCP are ordinary traffic: counted, not reported. */
static int report_skips(const struct pipeline *pl, const uint64_t *before, const char *path,
			int linktype)
{
	static const int damaged[] = { PL_DEC_TRUNCATED, PL_DEC_BAD_LINKTYPE, PL_DEC_BAD_IP,
				       PL_DEC_BAD_TCP };
	const uint64_t *now = pl->stats.decode;
	uint64_t frames = 0, bad = 0, ok = now[PL_DEC_OK] - before[PL_DEC_OK];
	char why[512] = "";
	size_t n = 0;

	for (int i = 0; i < PL_DEC__COUNT; i++)
		frames += now[i] - before[i];
	for (size_t i = 0; i < PL_ARRAY_LEN(damaged); i++) {
		uint64_t d = now[damaged[i]] - before[damaged[i]];
		if (!d || n >= sizeof(why))
			continue;
		bad += d;
		n += (size_t)snprintf(why + n, sizeof(why) - n, "%s%llu %s", n ? ", " : "",
				      (unsigned long long)d, pl_decode_result_name(damaged[i]));
		if (damaged[i] == PL_DEC_BAD_LINKTYPE && n < sizeof(why)) {
			const char *name = pcap_datalink_val_to_name(linktype);
			n += (size_t)snprintf(why + n, sizeof(why) - n, " (link type %d%s%s is not one "
					      "pktlog decodes)", linktype, name ? ", " : "",
					      name ? name : "");
		}
	}
	if (!frames) {
		pl_warn("%s: the capture holds no packets", path);
		return 0;
	}
	if (!bad) {
		if (!ok)
			pl_warn("%s: no TCP segment among %llu frames", path, (unsigned long long)frames);
		return 0;
	}
	if (!ok) {
		pl_err("%s: nothing could be decoded: all %llu frames skipped: %s", path,
		       (unsigned long long)frames, why);
		return 1;
	}
	pl_warn("%s: %llu of %llu frames skipped as undecodable: %s", path,
		(unsigned long long)bad, (unsigned long long)frames, why);
	return 0;
}

/* Returns 0 when the file was read to its end, 1 when it could not be (already logged). */
static int replay_file(struct pipeline *pl, const char *path)
{
	struct pl_capture *c = pl_capture_open_file(path);
	struct progress pg = { isatty(STDERR_FILENO) == 1, mono_ns(), mono_ns() + PL_NS_PER_SEC };
	uint64_t before[PL_DEC__COUNT];
	int rc, status = 0;

	if (!c)
		return 1;
	memcpy(before, pl->stats.decode, sizeof(before));
	pl_info("%s: replaying", path);
	while (!stop_requested) {
		rc = pl_capture_next(c, PL_FILE_BATCH, 0, on_frame, pl);
		pthread_mutex_lock(&out_lock);
		pl_output_poll(pl->out);
		pthread_mutex_unlock(&out_lock);
		service_tick(pl, false);
		progress_show(&pg, c, pl, path, false);
		if (rc == PL_CAPTURE_EOF)
			break;
		if (rc == PL_CAPTURE_ERROR) {
			status = 1;
			break;
		}
	}
	progress_show(&pg, c, pl, path, true);   /* the final line, on a terminal only */
	if (!stop_requested && report_skips(pl, before, path, pl_capture_linktype(c)) != 0)
		status = 1;
	pl_capture_close(c);
	return status;
}

/* --- live capture: one worker thread per capture socket of the fanout group --- */

struct worker {
	struct pipeline pl;     /* own stats, flows, render buffer and cfg copy; shared output */
	struct pl_capture *cap;
	pthread_t thread;
	unsigned ports_gen;
	int status;
};

/* Ports from the last SIGHUP reload; workers copy them into their own cfg between reads. */
static struct {
	pthread_mutex_t lock;
	struct pl_port_list http, mysql;
	atomic_uint gen;
} ports_update = { .lock = PTHREAD_MUTEX_INITIALIZER };
static atomic_int workers_running;
/* The running workers, for the counters' readers (summed on read). */
static struct worker *live_ws;
static int live_n;

static void worker_take_ports(struct worker *w)
{
	unsigned gen = atomic_load(&ports_update.gen);

	if (gen == w->ports_gen)
		return;
	pthread_mutex_lock(&ports_update.lock);
	w->pl.cfg.http.ports = ports_update.http;
	w->pl.cfg.mysql.ports = ports_update.mysql;
	pthread_mutex_unlock(&ports_update.lock);
	w->ports_gen = gen;
	pl_capture_update_ports(w->cap, &w->pl.cfg);
}

/* Signals go to the main thread, which watches the flags every tick. */
static void block_signals(void)
{
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	block_signals();
	while (!stop_requested) {
		worker_take_ports(w);
		int rc = pl_capture_next(w->cap, 256, 200, on_frame, &w->pl);
		if (rc == PL_CAPTURE_ERROR) {
			w->status = 1;
			stop_requested = 1;
			break;
		}
		pthread_mutex_lock(&out_lock);
		if (rc == 0)
			pl_output_flush(w->pl.out);   /* quiet moment: make events visible */
		else
			pl_output_poll(w->pl.out);
		pthread_mutex_unlock(&out_lock);
	}
	/* Freed here, not by main: the protocols' record caches belong to this thread. */
	pl_flow_table_free(w->pl.flows);
	w->pl.flows = NULL;
	atomic_fetch_sub(&workers_running, 1);
	return NULL;
}

/* The worker's pipeline is a copy of main's sharing the output, topics and host name. */
static int worker_init(struct worker *w, const struct pipeline *pl, struct pl_capture *cap)
{
	w->pl = *pl;
	memset(&w->pl.stats, 0, sizeof(w->pl.stats));
	w->pl.json.host_name = pl->host_name;
	w->pl.env = (struct pl_proto_env){ &w->pl.cfg, &w->pl.stats, emit_event, &w->pl };
	w->pl.render = malloc(PL_RENDER_BUF);
	w->pl.flows = w->pl.render ? pl_flow_table_new(&w->pl.cfg, &w->pl.env) : NULL;
	w->cap = cap;
	return w->pl.flows ? 0 : -1;
}

static void live_counters(struct pipeline *pl, struct pl_capture **caps, int n, const char *iface)
{
	struct pl_capture_counters cc;

	for (int i = 0; i < n; i++) {
		pl_capture_counters(caps[i], &cc);
		pl->stats.capture_received += cc.received;
		pl->stats.kernel_drops += cc.kernel_drops;
		pl->stats.kernel_if_drops += cc.if_drops;
		pl->stats.ebpf_packets += cc.ebpf_packets;
		pl->stats.ebpf_bytes += cc.ebpf_bytes;
		if (pl_log_level_max >= PL_LOG_INFO)
			pl_capture_print_ports(caps[i], stderr);
	}
	if (pl->stats.kernel_drops || pl->stats.kernel_if_drops)
		pl_warn("interface %s: %llu packets dropped by the kernel (ring full: raise "
			"capture.buffer_size_mb or capture.workers), %llu by the interface", iface,
			(unsigned long long)pl->stats.kernel_drops,
			(unsigned long long)pl->stats.kernel_if_drops);
	pl_info("interface %s: %llu packets received, %llu dropped by the kernel, %llu by the interface",
		iface, (unsigned long long)pl->stats.capture_received,
		(unsigned long long)pl->stats.kernel_drops, (unsigned long long)pl->stats.kernel_if_drops);
}

static int run_workers(struct pipeline *pl, struct worker *ws, int n)
{
	const struct timespec tick = { 0, 100 * 1000000L };
	int started = 0, status = 0;

	pthread_mutex_lock(&ports_update.lock);
	ports_update.http = pl->cfg.http.ports;
	ports_update.mysql = pl->cfg.mysql.ports;
	pthread_mutex_unlock(&ports_update.lock);
	atomic_store(&workers_running, n);
	for (; started < n; started++) {
		if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0) {
			pl_err("cannot start capture thread %d: %s", started, strerror(errno));
			atomic_fetch_sub(&workers_running, n - started);
			stop_requested = 1;
			status = 1;
			break;
		}
	}
	live_ws = ws;
	live_n = started;
	while (!stop_requested && atomic_load(&workers_running) > 0) {
		nanosleep(&tick, NULL);
		service_tick(pl, true);
		if (reload_requested) {
			reload_requested = 0;
			reload_config(pl);
		}
	}
	stop_requested = 1;
	for (int i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);   /* publishes w->stats and w->status */
	live_ws = NULL;
	live_n = 0;
	for (int i = 0; i < started; i++) {
		status |= ws[i].status;
		pl_stats_add(&pl->stats, &ws[i].pl.stats);
	}
	return status;
}

static int capture_live(struct pipeline *pl, const char *iface)
{
	int n = (int)PL_MAX(pl->cfg.capture.workers, 1u), status = 1;
	struct pl_capture **caps = calloc((size_t)n, sizeof(*caps));
	struct worker *ws = calloc((size_t)n, sizeof(*ws));
	bool opened = false;

	if (!caps || !ws || pl_capture_open_live_group(iface, &pl->cfg, caps, n) != 0)
		goto out;
	opened = true;
	for (int i = 0; i < n; i++)
		if (worker_init(&ws[i], pl, caps[i]) != 0)
			goto out;
	/* Everything privileged is open (sockets, BPF, output): no thread has started yet. */
	if (pl_capture_drop_privileges(pl->cfg.capture.user, pl->cfg.data_dir) != 0)
		goto out;
	pl_info("interface %s: capturing with %d worker thread(s)", iface, n);
	status = run_workers(pl, ws, n);
	live_counters(pl, caps, n, iface);
out:
	for (int i = 0; ws && i < n; i++) {
		pl_flow_table_free(ws[i].pl.flows);
		free(ws[i].pl.render);
	}
	for (int i = 0; opened && i < n; i++)
		pl_capture_close(caps[i]);
	free(ws);
	free(caps);
	return status;
}

/* --- the tailer: its own thread, publishing through the shared output under out_lock --- */

static struct {
	struct pl_tail *t;
	pthread_t thread;
	struct pl_stats stats;
	int status;
	struct pl_config *cfg;        /* the tailer's configuration since the last reload */
} tail;

/* Output acknowledgements; protocol events carry no token and never come here. */
static void tail_ack(void *token, int ok, void *arg)
{
	(void)arg;
	if (tail.t && token)
		pl_tail_ack(tail.t, token, ok);
}

static int tail_publish(void *arg, const char *json, size_t len, const char *key,
			const char *topic, void *token)
{
	struct pipeline *pl = arg;
	int rc;

	pthread_mutex_lock(&out_lock);
	if (!topic)
		topic = topics.log;
	rc = pl_output_publish(pl->out, json, len, key, topic, token);
	pthread_mutex_unlock(&out_lock);
	return rc;
}

static void tail_flush(void *arg)
{
	struct pipeline *pl = arg;

	pthread_mutex_lock(&out_lock);
	pl_output_flush(pl->out);
	pthread_mutex_unlock(&out_lock);
}

static bool tail_should_pause(void *arg)
{
	struct pipeline *pl = arg;
	bool p;

	pthread_mutex_lock(&out_lock);
	p = pl_output_should_pause(pl->out);
	pthread_mutex_unlock(&out_lock);
	return p;
}

static void *tail_main(void *arg)
{
	(void)arg;
	block_signals();
	tail.status = pl_tail_run(tail.t) != 0;
	if (tail.status)
		stop_requested = 1;
	return NULL;
}

static int tail_start(struct pipeline *pl, const struct pl_config *cfg)
{
	struct pl_tail_env env = { tail_publish, tail_flush, tail_should_pause, pl, pl->host_name,
				   &tail.stats };

	tail.t = pl_tail_open(cfg, &env);
	if (!tail.t)
		return -1;
	if (pthread_create(&tail.thread, NULL, tail_main, NULL) != 0) {
		pl_err("cannot start the tailer thread: %s", strerror(errno));
		pl_tail_close(tail.t);
		tail.t = NULL;
		return -1;
	}
	return 0;
}

/* Other sources are done (or there are none): tail until SIGTERM, then let the tailer
 * flush, collect the last acknowledgements and commit its offsets. */
static int tail_wait(struct pipeline *pl)
{
	const struct timespec tick = { 0, 100 * 1000000L };

	while (!stop_requested) {
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&out_lock);
		pl_output_poll(pl->out);   /* Kafka delivery reports arrive through poll */
		pthread_mutex_unlock(&out_lock);
		service_tick(pl, true);
		if (reload_requested) {
			reload_requested = 0;
			reload_config(pl);
		}
	}
	pl_tail_stop(tail.t);
	pthread_join(tail.thread, NULL);
	pl_stats_add(&pl->stats, &tail.stats);
	memset(&tail.stats, 0, sizeof(tail.stats));   /* counted once, in pl->stats now */
	return tail.status;
}

/* --- counters for readers: the metrics endpoint, heartbeats, SIGUSR1 --- */

static struct {
	struct pl_metrics *metrics;
	struct pl_heartbeat hb;
	uint64_t next_ns;             /* wall clock of the next tick */
	uint64_t next_hb_ns;
	char *buf;
} svc;

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * PL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Every thread's counters, summed on read (each thread only ever adds to its own). */
static void collect(const struct pipeline *pl, struct pl_stats *sum)
{
	*sum = pl->stats;
	for (int i = 0; i < live_n; i++)
		pl_stats_add(sum, &live_ws[i].pl.stats);
	pl_stats_add(sum, &tail.stats);
}

static void send_heartbeat(struct pipeline *pl, const struct pl_stats *sum, uint64_t now)
{
	size_t n = pl_heartbeat_render(&svc.hb, sum, now, svc.buf, PL_RENDER_BUF);
	const char *topic = pl->cfg.output.type == PL_OUTPUT_KAFKA ? pl->cfg.metrics.heartbeat_topic : NULL;

	if (!n)
		return;
	pthread_mutex_lock(&out_lock);
	pl_output_publish(pl->out, svc.buf, n, NULL, topic, NULL);
	if (!topic)
		pl_output_flush(pl->out);   /* a file or console shows it now; Kafka sends on its own */
	pthread_mutex_unlock(&out_lock);
}

static void service_tick(struct pipeline *pl, bool heartbeats)
{
	uint64_t now = wall_ns();
	struct pl_stats sum;

	if (now < svc.next_ns && !counters_requested)
		return;
	svc.next_ns = now + PL_NS_PER_SEC;
	collect(pl, &sum);
	if (svc.metrics)
		pl_metrics_update(svc.metrics, &sum);
	if (counters_requested) {
		counters_requested = 0;
		pl_stats_summary(&sum, stderr);
	}
	if (heartbeats && svc.buf && pl->cfg.metrics.heartbeat) {
		if (!svc.next_hb_ns)
			svc.next_hb_ns = now + pl->cfg.metrics.heartbeat_interval_ns;
		if (now >= svc.next_hb_ns) {
			svc.next_hb_ns = now + pl->cfg.metrics.heartbeat_interval_ns;
			send_heartbeat(pl, &sum, now);
		}
	}
}

static int service_start(struct pipeline *pl)
{
	char err[256];

	svc.hb = (struct pl_heartbeat){ .host_name = pl->host_name, .app_id = pl->cfg.app_id,
					.kafka = pl->cfg.output.type == PL_OUTPUT_KAFKA,
					.interval_ns = pl->cfg.metrics.heartbeat_interval_ns,
					.started_ns = wall_ns() };
	svc.buf = malloc(PL_RENDER_BUF);
	if (!svc.buf)
		return -1;
	if (pl->cfg.metrics.listen) {
		svc.metrics = pl_metrics_start(pl->cfg.metrics.listen, err, sizeof(err));
		if (!svc.metrics) {
			pl_err("%s", err);
			return -1;
		}
		pl_info("metrics: serving http://%s/metrics", pl->cfg.metrics.listen);
	}
	return 0;
}

static void service_stop(const struct pipeline *pl)
{
	struct pl_stats sum;

	if (svc.metrics) {
		collect(pl, &sum);
		pl_metrics_update(svc.metrics, &sum);
		pl_metrics_stop(svc.metrics);
		svc.metrics = NULL;
	}
	free(svc.buf);
	svc.buf = NULL;
}

static int parse_output(const char *arg, struct pl_config *cfg)
{
	if (strcmp(arg, "console") == 0) {
		cfg->output.type = PL_OUTPUT_CONSOLE;
	} else if (strcmp(arg, "null") == 0) {
		cfg->output.type = PL_OUTPUT_NULL;
	} else if (strncmp(arg, "file:", 5) == 0 && arg[5]) {
		char *p = strdup(arg + 5);
		if (!p)
			return -1;
		free(cfg->output.file_path);
		cfg->output.file_path = p;
		cfg->output.type = PL_OUTPUT_FILE;
	} else {
		fprintf(stderr, "pktlog: --output: expected console, null or file:PATH, got \"%s\"\n", arg);
		return -1;
	}
	return 0;
}

static int replace_str(char **dst, const char *src)
{
	char *p = strdup(src);

	if (!p)
		return -1;
	free(*dst);
	*dst = p;
	return 0;
}

/* --- SIGHUP --- */

/* Load the file again with the command line's overrides, as at start-up. */
static int reload_load(const char *path, struct pl_config *nc)
{
	char err[1024];

	if (pl_config_load(path, nc, err, sizeof(err)) != 0) {
		pl_err("SIGHUP: %s; keeping the running configuration", err);
		return -1;
	}
	if ((cli.output && parse_output(cli.output, nc) != 0) ||
	    (cli.data_dir && replace_str(&nc->data_dir, cli.data_dir) != 0)) {
		pl_err("SIGHUP: cannot apply the command line to %s; keeping the running "
		       "configuration", path);
		return -1;
	}
	for (int i = 0; i < cli.n_tails; i++) {
		if (pl_config_tail_add(nc, cli.tails[i]) != 0) {
			pl_err("SIGHUP: %s: with --tail, more than %d inputs; keeping the running "
			       "configuration", path, PL_TAIL_MAX_INPUTS);
			return -1;
		}
	}
	return 0;
}

static bool str_changed(const char *a, const char *b)
{
	return a != b && (!a || !b || strcmp(a, b) != 0);
}

/* Settings read once at start-up: say which of them the new file changes. */
static void warn_restart_only(const struct pl_config *old, const struct pl_config *nc)
{
	static const char fmt[] = "SIGHUP: %s changed; it takes effect only after a restart";

	if (str_changed(old->capture.iface, nc->capture.iface))
		pl_warn(fmt, "capture.interface");
	if (str_changed(old->capture.bpf_filter, nc->capture.bpf_filter) ||
	    old->capture.snaplen != nc->capture.snaplen || old->capture.workers != nc->capture.workers ||
	    old->capture.ebpf != nc->capture.ebpf || old->capture.buffer_mb != nc->capture.buffer_mb ||
	    old->capture.promisc != nc->capture.promisc || old->capture.immediate != nc->capture.immediate ||
	    str_changed(old->capture.user, nc->capture.user))
		pl_warn(fmt, "capture.*");
	if (old->output.type != nc->output.type || str_changed(old->output.file_path, nc->output.file_path) ||
	    str_changed(old->output.kafka.brokers, nc->output.kafka.brokers) ||
	    old->output.kafka.key != nc->output.kafka.key)
		pl_warn(fmt, "output (type, file, kafka brokers or key)");
	if (str_changed(old->data_dir, nc->data_dir))
		pl_warn(fmt, "data_dir");
	if (str_changed(old->metrics.listen, nc->metrics.listen))
		pl_warn(fmt, "metrics.listen");
	if (str_changed(old->host_name, nc->host_name) || str_changed(old->app_id, nc->app_id))
		pl_warn(fmt, "host_name or app_id");
	if (old->tail.max_inflight != nc->tail.max_inflight)
		pl_warn(fmt, "tail.max_inflight");
}

/* Heartbeats are the main thread's own: switch them over at once. */
static void reload_heartbeat(struct pipeline *pl, struct pl_config *nc)
{
	if (pl->cfg.metrics.heartbeat_interval_ns != nc->metrics.heartbeat_interval_ns ||
	    pl->cfg.metrics.heartbeat != nc->metrics.heartbeat)
		svc.next_hb_ns = 0;   /* the next tick counts a full new interval */
	pl->cfg.metrics.heartbeat = nc->metrics.heartbeat;
	pl->cfg.metrics.heartbeat_interval_ns = nc->metrics.heartbeat_interval_ns;
	svc.hb.interval_ns = nc->metrics.heartbeat_interval_ns;
	swap_str(&pl->cfg.metrics.heartbeat_topic, &nc->metrics.heartbeat_topic);
}

/* Hand the new inputs to the tailer (starting it if it was not running). Returns true
 * when the tailer keeps nc. */
static bool reload_tail(struct pipeline *pl, struct pl_config *nc)
{
	if (!tail.t) {
		if (!nc->tail.n_inputs)
			return false;
		if (tail_start(pl, nc) != 0) {
			pl_err("SIGHUP: the tailer cannot start; tail inputs not applied");
			return false;
		}
	} else if (pl_tail_reload(tail.t, nc) != 0) {
		return false;
	}
	if (tail.cfg) {
		pl_config_free(tail.cfg);
		free(tail.cfg);
	}
	tail.cfg = nc;
	return true;
}

static void reload_config(struct pipeline *pl)
{
	const char *path = pl->cfg.path;
	struct pl_config *nc;

	if (!path) {
		pl_warn("SIGHUP: no configuration file to reload (started without --config)");
		return;
	}
	nc = calloc(1, sizeof(*nc));
	if (!nc || reload_load(path, nc) != 0) {
		if (nc)
			pl_config_free(nc);
		free(nc);
		return;
	}
	pthread_mutex_lock(&ports_update.lock);
	ports_update.http = nc->http.ports;
	ports_update.mysql = nc->mysql.ports;
	pthread_mutex_unlock(&ports_update.lock);
	atomic_fetch_add(&ports_update.gen, 1);
	if (topics_set(nc->output.kafka.topic) != 0)
		pl_err("SIGHUP: out of memory: output.kafka.topic not changed");
	reload_heartbeat(pl, nc);
	warn_restart_only(&pl->cfg, nc);
	pl_info("SIGHUP: %s reloaded: protocol ports updated; tail inputs (with fields and topics), "
		"tail.close_*/commit_interval/read_buffer_bytes, output.kafka.topic and "
		"metrics.heartbeat* applied; other settings keep their values until a restart", path);
	if (!reload_tail(pl, nc)) {
		pl_config_free(nc);
		free(nc);
	}
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A reload or counters request must not make a system call of start-up (or of a
	 * library) fail with EINTR: those two restart; SIGTERM/SIGINT still interrupt. */
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "iface", required_argument, NULL, 'i' },
		{ "pcap", required_argument, NULL, 'r' },
		{ "tail", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *data_dir = NULL, *output = NULL, *iface = NULL;
	const char **pcaps, **tails;
	int n_pcaps = 0, n_tails = 0, verbose = 0, opt, status = 0;
	static struct pipeline pl;
	char err[1024];

	/* Before anything else: a SIGHUP or SIGUSR1 during start-up (which can take seconds,
	 * e.g. the Kafka cluster check) must not kill the process. The handlers only set
	 * flags; the main loops act on them once start-up is over (a reload asked for now is
	 * applied then). */
	install_signals();
	pcaps = calloc((size_t)argc + 1, sizeof(*pcaps));
	tails = calloc((size_t)argc + 1, sizeof(*tails));
	if (!pcaps || !tails) {
		free(pcaps);
		free(tails);
		return 1;
	}
	while ((opt = getopt_long(argc, argv, "c:d:o:i:r:t:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'd': data_dir = optarg; break;
		case 'o': output = optarg; break;
		case 'i': iface = optarg; break;
		case 'r': pcaps[n_pcaps++] = optarg; break;
		case 't': tails[n_tails++] = optarg; break;
		case 'v': verbose++; break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			free(pcaps);
			free(tails);
			return 0;
		case 'V':
			printf("pktlog %s\n", PL_VERSION);
			free(pcaps);
			free(tails);
			return 0;
		default:
			fputs(usage_text, stderr);
			fputs("Try 'pktlog --help' for more information.\n", stderr);
			free(pcaps);
			free(tails);
			return EXIT_USAGE;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (!n_pcaps) {
			fprintf(stderr, "pktlog: unexpected argument \"%s\" (capture files follow --pcap)\n", argv[i]);
			free(pcaps);
			free(tails);
			return EXIT_USAGE;
		}
		pcaps[n_pcaps++] = argv[i];
	}
	pl_log_level_max = PL_LOG_WARN + verbose;

	if (config_path) {
		if (pl_config_load(config_path, &pl.cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "pktlog: %s\n", err);
			pl_config_free(&pl.cfg);
			free(pcaps);
			free(tails);
			return EXIT_USAGE;
		}
	} else if (pl_config_defaults(&pl.cfg) != 0) {
		free(pcaps);
		free(tails);
		return 1;
	}
	if ((output && parse_output(output, &pl.cfg) != 0) ||
	    (data_dir && replace_str(&pl.cfg.data_dir, data_dir) != 0)) {
		status = EXIT_USAGE;
		goto out;
	}
	cli.output = output;
	cli.data_dir = data_dir;
	cli.tails = tails;
	cli.n_tails = n_tails;
	for (int i = 0; i < n_tails; i++) {
		if (pl_config_tail_add(&pl.cfg, tails[i]) != 0) {
			fprintf(stderr, "pktlog: --tail: at most %d inputs\n", PL_TAIL_MAX_INPUTS);
			status = EXIT_USAGE;
			goto out;
		}
	}
	if (iface && n_pcaps) {
		fprintf(stderr, "pktlog: give either --iface or --pcap, not both\n");
		status = EXIT_USAGE;
		goto out;
	}
	if (!iface && !n_pcaps)
		iface = pl.cfg.capture.iface;
	if (!iface && !n_pcaps && !pl.cfg.tail.n_inputs) {
		fputs(usage_text, stderr);
		fputs("pktlog: no source: give --iface IF, --pcap FILE or --tail PATTERN (or set "
		      "capture.interface or tail.inputs)\n", stderr);
		status = EXIT_USAGE;
		goto out;
	}

	if (pl.cfg.host_name)
		snprintf(pl.host_name, sizeof(pl.host_name), "%s", pl.cfg.host_name);
	else if (gethostname(pl.host_name, sizeof(pl.host_name) - 1) != 0)
		snprintf(pl.host_name, sizeof(pl.host_name), "localhost");
	pl.json.host_name = pl.host_name;
	pl.render = malloc(PL_RENDER_BUF);
	pl.out = topics_set(pl.cfg.output.kafka.topic) == 0 ?
		 pl_output_open(&pl.cfg, &pl.stats, tail_ack, NULL) : NULL;
	pl.env = (struct pl_proto_env){ &pl.cfg, &pl.stats, emit_event, &pl };
	pl.flows = pl.out && pl.render ? pl_flow_table_new(&pl.cfg, &pl.env) : NULL;
	if (!pl.flows) {
		status = 1;
		goto out;
	}
	if (service_start(&pl) != 0) {
		status = 1;
		goto out;
	}
	if (pl.cfg.tail.n_inputs && tail_start(&pl, &pl.cfg) != 0) {
		status = 1;
		goto out;
	}

	if (iface) {
		status = capture_live(&pl, iface);
	} else {
		for (int i = 0; i < n_pcaps && !stop_requested; i++)
			status |= replay_file(&pl, pcaps[i]);
	}
	/* The captures are over: what is still pending is reported now, not at exit (the
	 * tailer may keep pktlog running for days). */
	pl_flow_flush(pl.flows);
	pthread_mutex_lock(&out_lock);
	pl_output_flush(pl.out);
	pthread_mutex_unlock(&out_lock);
	if (tail.t)
		status |= tail_wait(&pl);
	if (pl_output_flush(pl.out) != 0)
		status = 1;
	if (verbose)
		pl_stats_summary(&pl.stats, stderr);
out:
	service_stop(&pl);
	pl_flow_table_free(pl.flows);
	if (pl_output_close(pl.out) != 0)
		status = status ? status : 1;
	pl_tail_close(tail.t);
	if (tail.cfg) {
		pl_config_free(tail.cfg);
		free(tail.cfg);
	}
	free(pl.render);
	free(topics.http);
	free(topics.mysql);
	free(topics.log);
	pl_config_free(&pl.cfg);
	free(pcaps);
	free(tails);
	return status;
}
