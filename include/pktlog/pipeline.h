/* pipeline.h – the pipeline object: what one pktlog process runs, and who owns each stage.
 *
 *   capture (replay: main thread; live: one worker thread per socket)
 *     → lane: decode → flows → protocols → pl_publish (render, key, topic)  ┐
 *   tailer thread: lines → its own rendering → pl_publish_record            ├→ publisher → output
 *   main thread: service (metrics, heartbeats, SIGUSR1), SIGHUP reload      ┘
 *
 * struct pl_pipeline owns every stage and is passed explicitly; there is no other state
 * but the signal flags. Each thread that carries packets has its own lane (counters, flow
 * table, render buffer) and only adds to its own counters; readers sum them. All threads
 * share the one publisher (src/output/publish.c), whose lock serialises the output.
 * Acknowledgements of tailed records come back from the output through its ack callback,
 * whose argument is the tail source (pl_tail_source_ack).
 *
 * Files: main.c (command line, start-up, shutdown), signals.c, pipeline.c (lanes and the
 * command line's overrides), replay.c, workers.c, tail_source.c, service.c, reload.c. */
#ifndef PKTLOG_PIPELINE_H
#define PKTLOG_PIPELINE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include "pktlog/config.h"
#include "pktlog/heartbeat.h"
#include "pktlog/proto.h"
#include "pktlog/publish.h"
#include "pktlog/registry.h"
#include "pktlog/stats.h"

struct pl_pipeline;

/* ---- signals (src/signals.c): handlers only set these; the main thread acts on them ---- */

extern volatile sig_atomic_t pl_stop_requested;      /* SIGTERM, SIGINT, or a fatal error */
extern volatile sig_atomic_t pl_reload_requested;    /* SIGHUP */
extern volatile sig_atomic_t pl_counters_requested;  /* SIGUSR1 */

/* Install the handlers (first thing in main: a SIGHUP during start-up must not kill). */
void pl_signals_install(void);
/* In every thread but the main one: signals go to the main thread. */
void pl_signals_block(void);

/* ---- a lane (src/pipeline.c): one thread's packet path, decode → flows → publish ---- */

struct pl_lane {
	struct pl_proto_env env;      /* cfg and stats of the thread; emit = pl_publish */
	struct pl_render render;
	struct pl_flow_table *flows;
};

/* cfg and stats must outlive the lane. Returns 0, or -1 (ENOMEM). */
int pl_lane_init(struct pl_lane *l, const struct pl_config *cfg, struct pl_stats *stats,
		 struct pl_publisher *pub, const char *host_name);
/* Frees the flow table (on the thread that used it: the protocols' caches are per thread)
 * and the render buffer. */
void pl_lane_free(struct pl_lane *l);
/* pl_frame_fn of the captures; arg is the lane. */
void pl_lane_frame(void *arg, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
		   uint64_t ts_ns, int linktype);

/* ---- what the command line overrides, applied again to a reloaded file (src/pipeline.c) ---- */

struct pl_cli {
	const char *output, *data_dir;
	const char **tails;
	int n_tails;
};

/* --output: console, null or file:PATH into cfg. Returns 0, or -1 after saying why. */
int pl_cli_parse_output(const char *arg, struct pl_config *cfg);
/* Replace *dst by a copy of src. Returns 0, or -1 (ENOMEM). */
int pl_replace_str(char **dst, const char *src);

/* ---- replay (src/replay.c) ---- */

/* Replay one capture file through the main lane. Returns 0 when it was read to its end,
 * 1 when it could not be or the output broke (already logged). */
int pl_replay_file(struct pl_pipeline *pl, const char *path);

/* ---- live capture (src/workers.c): one worker thread per socket of the fanout group ---- */

struct pl_worker;

struct pl_workers {
	struct pl_worker *live;       /* the running workers, for the counters' readers */
	int n_live;
	atomic_int running;
	/* Ports from the last SIGHUP; workers copy them into their own cfg between reads. */
	pthread_mutex_t ports_lock;
	struct pl_port_list ports[PL_PROTO_MAX]; /* each registry row's, by row */
	atomic_uint ports_gen;
};

/* Capture on iface until SIGTERM or a failure; drops privileges once the sockets are open.
 * Returns the exit status (0 or 1); the workers' counters are added to pl->stats. */
int pl_capture_live(struct pl_pipeline *pl, const char *iface);
/* SIGHUP: hand cfg's protocol ports to the workers (taken between two reads). */
void pl_workers_set_ports(struct pl_workers *w, const struct pl_config *cfg);
/* Add the running workers' counters to sum. */
void pl_workers_add_stats(const struct pl_workers *w, struct pl_stats *sum);

/* ---- the tailer as a source (src/tail_source.c): its thread, publishing, acks ---- */

struct pl_tail;

struct pl_tail_source {
	struct pl_tail *t;            /* NULL: not running */
	pthread_t thread;
	struct pl_stats stats;        /* the tailer thread's own counters */
	int status;
	struct pl_config *cfg;        /* the tailer's configuration since the last reload */
	struct pl_publisher *pub;
	const char *host_name;
};

/* The output's ack callback; arg is the struct pl_tail_source. Protocol events carry no
 * token and are ignored. */
void pl_tail_source_ack(void *token, int ok, void *arg);
/* Open the tailer for cfg's inputs and start its thread. 0, or -1 after logging. */
int pl_tail_source_start(struct pl_tail_source *ts, const struct pl_config *cfg);
/* SIGHUP: hand nc's inputs to the tailer, starting it if it was not running. Returns true
 * when the tailer keeps nc (freed by pl_tail_source_close or the next reload). */
bool pl_tail_source_reload(struct pl_tail_source *ts, struct pl_config *nc);
/* Other sources are done: serve the main thread until SIGTERM, then stop the tailer, let
 * it commit its offsets, and add its counters to pl->stats. Returns the exit status. */
int pl_tail_source_wait(struct pl_pipeline *pl);
/* Close the tailer (after wait, or when it never ran) and free its configuration. */
void pl_tail_source_close(struct pl_tail_source *ts);

/* ---- the service loop (src/service.c): counters, metrics endpoint, heartbeats ---- */

struct pl_metrics;

struct pl_service {
	struct pl_metrics *metrics;
	struct pl_heartbeat hb;
	uint64_t next_ns;             /* wall clock of the next tick */
	uint64_t next_hb_ns;          /* 0: count a full interval from the next tick */
	char *buf;                    /* heartbeats are rendered here */
};

/* Start the metrics endpoint (metrics.listen) and the heartbeat state. 0, or -1 logged. */
int pl_service_start(struct pl_pipeline *pl);
/* About every second: counters to the metrics endpoint, SIGUSR1's summary and (when
 * heartbeats is true) a heartbeat when one is due. Cheap when not due. */
void pl_service_tick(struct pl_pipeline *pl, bool heartbeats);
/* One turn of the main thread while other threads work: sleep 100 ms, poll the output
 * when poll is true, tick with heartbeats, apply a pending SIGHUP. Returns true when the
 * output has failed for good. */
bool pl_service_step(struct pl_pipeline *pl, bool poll);
/* Give the metrics endpoint the last counters and stop it. */
void pl_service_stop(struct pl_pipeline *pl);

/* ---- SIGHUP (src/reload.c) ---- */

/* Re-read the configuration file and apply what can change while running. */
void pl_reload(struct pl_pipeline *pl);

/* ---- the pipeline ---- */

struct pl_pipeline {
	struct pl_config cfg;         /* the running configuration */
	struct pl_stats stats;        /* the main thread's counters and the output's; at the
				       * end, every thread's are added here */
	char host_name[256];          /* host.name of every event */
	struct pl_cli cli;
	struct pl_publisher pub;
	struct pl_lane lane;          /* the main thread's (replays) */
	struct pl_workers workers;
	struct pl_tail_source tail;
	struct pl_service svc;
};

#endif
