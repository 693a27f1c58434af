/* main.c – pktlog's command line, configuration, wiring, signals and lifecycle.
 *
 * Wires capture → decode → flows → protocols → JSON → output and owns the process:
 * options, exit status, signals, the end-of-run summary. Holds no protocol logic. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "pktlog/capture.h"
#include "pktlog/config.h"
#include "pktlog/decode.h"
#include "pktlog/event.h"
#include "pktlog/flow.h"
#include "pktlog/output.h"
#include "pktlog/stats.h"

#define EXIT_USAGE 2
#define PL_RENDER_BUF (256 * 1024)
#define PL_FILE_BATCH 4096

static volatile sig_atomic_t stop_requested;

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

static const char usage_text[] =
"Usage: pktlog [--config FILE] [--data-dir DIR] [-v] [--output console|null|file:PATH]\n"
"              (--iface IF | --pcap FILE...)\n"
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
"flushed).\n"
"\n"
"Exit status: 0 clean stop; 1 runtime failure (an unreadable or damaged capture file,\n"
"an interface that cannot be opened, an output that cannot be written); 2 usage or\n"
"configuration error.\n"
"\n"
"Diagnostics go to standard error.\n";

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void emit_event(const struct pl_event *ev, void *arg)
{
	struct pipeline *pl = arg;
	size_t n = pl_event_to_json(ev, &pl->json, pl->render, PL_RENDER_BUF);

	if (!n) {
		pl->stats.events_truncated++;
		return;
	}
	pl->stats.events++;
	pl_output_publish(pl->out, pl->render, n, NULL, NULL, NULL);
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

/* Returns 0 when the file was read to its end, 1 when it could not be (already logged). */
static int replay_file(struct pipeline *pl, const char *path)
{
	struct pl_capture *c = pl_capture_open_file(path);
	int rc;

	if (!c)
		return 1;
	pl_info("%s: replaying", path);
	while (!stop_requested) {
		rc = pl_capture_next(c, PL_FILE_BATCH, 0, on_frame, pl);
		if (rc == PL_CAPTURE_EOF)
			break;
		if (rc == PL_CAPTURE_ERROR) {
			pl_capture_close(c);
			return 1;
		}
	}
	pl_capture_close(c);
	return 0;
}

static int capture_live(struct pipeline *pl, const char *iface)
{
	struct pl_capture *c = pl_capture_open_live(iface, &pl->cfg);
	int status = 0;

	if (!c)
		return 1;
	pl_info("interface %s: capturing", iface);
	while (!stop_requested) {
		int rc = pl_capture_next(c, 256, 200, on_frame, pl);
		if (rc == PL_CAPTURE_ERROR) {
			status = 1;
			break;
		}
		if (rc == 0)
			pl_output_flush(pl->out);   /* quiet moment: make events visible */
	}
	pl->stats.kernel_drops = pl_capture_drops(c);
	pl_capture_close(c);
	return status;
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

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
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
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *data_dir = NULL, *output = NULL, *iface = NULL;
	const char **pcaps = calloc((size_t)argc + 1, sizeof(*pcaps));
	int n_pcaps = 0, verbose = 0, opt, status = 0;
	static struct pipeline pl;
	char err[1024];

	if (!pcaps)
		return 1;
	while ((opt = getopt_long(argc, argv, "c:d:o:i:r:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'd': data_dir = optarg; break;
		case 'o': output = optarg; break;
		case 'i': iface = optarg; break;
		case 'r': pcaps[n_pcaps++] = optarg; break;
		case 'v': verbose++; break;
		case 'h':
			fputs(usage_text, stdout);
			fputs(help_text, stdout);
			free(pcaps);
			return 0;
		case 'V':
			printf("pktlog %s\n", PL_VERSION);
			free(pcaps);
			return 0;
		default:
			fputs(usage_text, stderr);
			fputs("Try 'pktlog --help' for more information.\n", stderr);
			free(pcaps);
			return EXIT_USAGE;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (!n_pcaps) {
			fprintf(stderr, "pktlog: unexpected argument \"%s\" (capture files follow --pcap)\n", argv[i]);
			free(pcaps);
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
			return EXIT_USAGE;
		}
	} else if (pl_config_defaults(&pl.cfg) != 0) {
		free(pcaps);
		return 1;
	}
	if ((output && parse_output(output, &pl.cfg) != 0) ||
	    (data_dir && replace_str(&pl.cfg.data_dir, data_dir) != 0)) {
		status = EXIT_USAGE;
		goto out;
	}
	if (iface && n_pcaps) {
		fprintf(stderr, "pktlog: give either --iface or --pcap, not both\n");
		status = EXIT_USAGE;
		goto out;
	}
	if (!iface && !n_pcaps)
		iface = pl.cfg.capture.iface;
	if (!iface && !n_pcaps) {
		fputs(usage_text, stderr);
		fputs("pktlog: no source: give --iface IF or --pcap FILE (or set capture.interface)\n", stderr);
		status = EXIT_USAGE;
		goto out;
	}

	if (pl.cfg.host_name)
		snprintf(pl.host_name, sizeof(pl.host_name), "%s", pl.cfg.host_name);
	else if (gethostname(pl.host_name, sizeof(pl.host_name) - 1) != 0)
		snprintf(pl.host_name, sizeof(pl.host_name), "localhost");
	pl.json.host_name = pl.host_name;
	pl.render = malloc(PL_RENDER_BUF);
	pl.out = pl_output_open(&pl.cfg, &pl.stats, NULL, NULL);
	pl.env = (struct pl_proto_env){ &pl.cfg, &pl.stats, emit_event, &pl };
	pl.flows = pl.out && pl.render ? pl_flow_table_new(&pl.cfg, &pl.env) : NULL;
	if (!pl.flows) {
		status = 1;
		goto out;
	}
	install_signals();

	if (iface) {
		status = capture_live(&pl, iface);
	} else {
		for (int i = 0; i < n_pcaps && !stop_requested; i++)
			status |= replay_file(&pl, pcaps[i]);
	}
	pl_flow_flush(pl.flows);
	if (pl_output_flush(pl.out) != 0)
		status = 1;
	if (verbose)
		pl_stats_summary(&pl.stats, stderr);
out:
	pl_flow_table_free(pl.flows);
	if (pl_output_close(pl.out) != 0)
		status = status ? status : 1;
	free(pl.render);
	pl_config_free(&pl.cfg);
	free(pcaps);
	return status;
}
