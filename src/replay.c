/* replay.c – replaying capture files through the main thread's lane (--pcap): the read
 * loop, the progress line on a terminal, and what a file could not decode. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pcap/pcap.h>
#include "pktlog/capture.h"
#include "pktlog/pipeline.h"

#define PL_FILE_BATCH 4096

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

static void progress_show(struct progress *pg, struct pl_capture *c, const struct pl_pipeline *pl,
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
static int report_skips(const struct pl_pipeline *pl, const uint64_t *before, const char *path,
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

int pl_replay_file(struct pl_pipeline *pl, const char *path)
{
	struct pl_capture *c = pl_capture_open_file(path);
	struct progress pg = { isatty(STDERR_FILENO) == 1, mono_ns(), mono_ns() + PL_NS_PER_SEC };
	uint64_t before[PL_DEC__COUNT];
	int rc, status = 0;

	if (!c)
		return 1;
	memcpy(before, pl->stats.decode, sizeof(before));
	pl_info("%s: replaying", path);
	while (!pl_stop_requested) {
		rc = pl_capture_next(c, PL_FILE_BATCH, 0, pl_lane_frame, &pl->lane);
		pl_publisher_poll(&pl->pub);
		pl_service_tick(pl, false);
		progress_show(&pg, c, pl, path, false);
		if (rc == PL_CAPTURE_EOF)
			break;
		if (rc == PL_CAPTURE_ERROR) {
			status = 1;
			break;
		}
		if (pl_publisher_broken(&pl->pub)) {
			status = 1;     /* the output said why; the rest would only be counted lost */
			break;
		}
	}
	progress_show(&pg, c, pl, path, true);   /* the final line, on a terminal only */
	if (!pl_stop_requested && report_skips(pl, before, path, pl_capture_linktype(c)) != 0)
		status = 1;
	pl_capture_close(c);
	return status;
}
