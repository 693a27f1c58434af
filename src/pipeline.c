/* pipeline.c – the pieces of the pipeline object (include/pktlog/pipeline.h) that several
 * stages share: a thread's lane (decode → flows → publish) and the command line's
 * overrides of the configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pktlog/decode.h"
#include "pktlog/flow.h"
#include "pktlog/pipeline.h"

int pl_lane_init(struct pl_lane *l, const struct pl_config *cfg, struct pl_stats *stats,
		 struct pl_publisher *pub, const char *host_name)
{
	l->env = (struct pl_proto_env){ cfg, stats, pl_publish, &l->render };
	if (pl_render_init(&l->render, pub, stats, host_name) != 0)
		return -1;
	l->flows = pl_flow_table_new(cfg, &l->env);
	return l->flows ? 0 : -1;
}

void pl_lane_free(struct pl_lane *l)
{
	pl_flow_table_free(l->flows);
	l->flows = NULL;
	pl_render_free(&l->render);
}

void pl_lane_frame(void *arg, const uint8_t *frame, uint32_t caplen, uint32_t wirelen,
		   uint64_t ts_ns, int linktype)
{
	struct pl_lane *l = arg;
	struct pl_stats *st = l->env.stats;
	struct pl_packet pkt;
	int rc = pl_decode(frame, caplen, linktype, l->env.cfg->fast_paths, &pkt);

	(void)wirelen;
	st->packets++;
	st->bytes += caplen;
	st->decode[rc]++;
	if (rc != PL_DEC_OK)
		return;
	pkt.ts_ns = ts_ns;
	pl_flow_packet(l->flows, &pkt);
}

int pl_cli_parse_output(const char *arg, struct pl_config *cfg)
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

int pl_replace_str(char **dst, const char *src)
{
	char *p = strdup(src);

	if (!p)
		return -1;
	free(*dst);
	*dst = p;
	return 0;
}
