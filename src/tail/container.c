/* container.c – the container runtimes' log formats: Docker's json-file objects
 * ({"log":…,"stream":…,"time":…}) and the CRI format (`<time> <stream> <P|F> <text>`) decoded
 * into the application's lines, partial lines joined (per stream, bounded by max_line_bytes),
 * `auto` detection from a file's first line, and the metadata a log's path (and Docker's
 * config.v2.json) gives. Works on lines handed in by lines.c; must not read log files, publish
 * or render events. The per-line path allocates nothing once a file's join buffers have grown. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pktlog/tail.h"

#define CONFIG_MAX_BYTES (4u << 20)  /* a config.v2.json larger than this is not read */
#define META_TTL_NS (60 * PL_NS_PER_SEC)

/* ---- RFC 3339 times (the runtimes write RFC3339Nano) ---- */

static bool digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

bool pl_tail_parse_time(const char *s, size_t n, uint64_t *ns)
{
	unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
	uint64_t frac = 0;
	int64_t t;
	size_t i = 19;
	int sign = 0;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return false;
	if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
	    !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
		return false;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	if (s[i] == '.') {
		int nd = 0;

		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++)
			if (nd < 9)
				frac = frac * 10 + (uint64_t)(s[i] - '0');
		if (nd == 0)
			return false;
		for (; nd < 9; nd++)
			frac *= 10;
	}
	if (i == n - 1 && (s[i] == 'Z' || s[i] == 'z')) {
		sign = 0;
	} else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
		   digits(s + i + 1, 2, &oh) && digits(s + i + 4, 2, &om) && oh < 24 && om < 60) {
		sign = s[i] == '+' ? 1 : -1;
	} else {
		return false;
	}
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= sign * (int64_t)(oh * 3600 + om * 60);
	if (t < 0 || (t == 0 && frac == 0))
		return false;   /* the epoch itself: 0 means "no time" to the renderer */
	*ns = (uint64_t)t * PL_NS_PER_SEC + frac;
	return true;
}

/* ---- a small JSON reader: spans only, nothing copied ---- */

struct jcur {
	const char *p, *e;
};

static void skip_ws(struct jcur *j)
{
	while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string at j->p ('"' expected); [*s, *e) is its escaped body. Escapes are checked. */
static bool scan_string(struct jcur *j, const char **s, const char **e)
{
	const char *p = j->p;

	if (p >= j->e || *p != '"')
		return false;
	*s = ++p;
	while (p < j->e) {
		unsigned char c = (unsigned char)*p;

		if (c == '"') {
			*e = p;
			j->p = p + 1;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c != '\\') {
			p++;
			continue;
		}
		if (++p >= j->e)
			return false;
		if (*p == 'u') {
			if (j->e - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) ||
			    !is_hex(p[4]))
				return false;
			p += 5;
		} else if (strchr("\"\\/bfnrt", *p) && *p) {
			p++;
		} else {
			return false;
		}
	}
	return false;
}

/* Any value, iteratively (nesting cannot exhaust the stack). */
static bool skip_value(struct jcur *j)
{
	int depth = 0;
	const char *s, *e;

	do {
		skip_ws(j);
		if (j->p >= j->e)
			return false;
		switch (*j->p) {
		case '"':
			if (!scan_string(j, &s, &e))
				return false;
			break;
		case '{': case '[':
			depth++;
			j->p++;
			break;
		case '}': case ']':
			if (!depth--)
				return false;
			j->p++;
			break;
		case ',': case ':':
			if (!depth)
				return false;
			j->p++;
			break;
		default:
			if (!strchr("-0123456789tfn", *j->p))
				return false;
			while (j->p < j->e && (strchr("+-.eE", *j->p) ||
					       (*j->p >= '0' && *j->p <= '9') ||
					       (*j->p >= 'a' && *j->p <= 'z')))
				j->p++;
			break;
		}
	} while (depth > 0);
	return true;
}

static unsigned hex4(const char *p)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Unescape a body scan_string checked into out (never longer than the body). A lone
 * surrogate becomes U+FFFD, as Go's encoder would have written it. */
static size_t unescape(const char *s, const char *e, char *out)
{
	size_t n = 0;

	while (s < e) {
		const char *bs = memchr(s, '\\', (size_t)(e - s));
		size_t run = bs ? (size_t)(bs - s) : (size_t)(e - s);
		unsigned cp;

		memcpy(out + n, s, run);
		n += run;
		s += run;
		if (s >= e)
			break;
		s++;
		switch (*s) {
		case 'b': out[n++] = '\b'; s++; continue;
		case 'f': out[n++] = '\f'; s++; continue;
		case 'n': out[n++] = '\n'; s++; continue;
		case 'r': out[n++] = '\r'; s++; continue;
		case 't': out[n++] = '\t'; s++; continue;
		case 'u': break;
		default: out[n++] = *s++; continue;
		}
		cp = hex4(s + 1);
		s += 5;
		if (cp >= 0xd800 && cp < 0xdc00 && e - s >= 6 && s[0] == '\\' && s[1] == 'u' &&
		    hex4(s + 2) >= 0xdc00 && hex4(s + 2) < 0xe000) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(s + 2) - 0xdc00);
			s += 6;
		} else if (cp >= 0xd800 && cp < 0xe000) {
			cp = 0xfffd;
		}
		n += put_utf8(out + n, cp);
	}
	return n;
}

static bool span_is(const char *s, const char *e, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(e - s) == n && memcmp(s, lit, n) == 0;
}

/* ---- one line of each format ---- */

/* What one line of a runtime's log holds, as spans into the line. */
struct piece {
	const char *text, *text_end;  /* Docker: the escaped "log" body; CRI: the text */
	uint64_t ts_ns;
	uint8_t stream;
	bool partial;
	bool escaped;
};

static uint8_t stream_of(const char *s, const char *e)
{
	if (span_is(s, e, "stdout"))
		return PL_TAIL_STREAM_STDOUT;
	if (span_is(s, e, "stderr"))
		return PL_TAIL_STREAM_STDERR;
	return 0;
}

/* Does an escaped body end with the escape "\n" (an odd run of backslashes, then n)? */
static bool ends_with_newline(const char *s, const char *e)
{
	size_t k = 0;

	if (e - s < 2 || e[-1] != 'n')
		return false;
	for (const char *q = e - 2; q >= s && *q == '\\'; q--)
		k++;
	return k % 2 == 1;
}

static const char *docker_piece(const char *p, size_t len, struct piece *pc)
{
	struct jcur j = { p, p + len };
	const char *ks, *ke, *vs, *ve, *ts = NULL, *te = NULL;
	bool have_log = false;

	skip_ws(&j);
	if (j.p >= j.e || *j.p++ != '{')
		return "docker: not a JSON object";
	for (;;) {
		skip_ws(&j);
		if (!scan_string(&j, &ks, &ke))
			return "docker: invalid JSON";
		skip_ws(&j);
		if (j.p >= j.e || *j.p++ != ':')
			return "docker: invalid JSON";
		skip_ws(&j);
		if (span_is(ks, ke, "log") || span_is(ks, ke, "stream") || span_is(ks, ke, "time")) {
			if (!scan_string(&j, &vs, &ve))
				return "docker: invalid JSON";
			if (ks[0] == 'l') {
				pc->text = vs;
				pc->text_end = ve;
				have_log = true;
			} else if (ks[0] == 's') {
				pc->stream = stream_of(vs, ve);
			} else {
				ts = vs;
				te = ve;
			}
		} else if (!skip_value(&j)) {
			return "docker: invalid JSON";
		}
		skip_ws(&j);
		if (j.p < j.e && *j.p == ',') {
			j.p++;
			continue;
		}
		if (j.p < j.e && *j.p == '}')
			break;
		return "docker: invalid JSON";
	}
	j.p++;
	skip_ws(&j);
	if (j.p != j.e)
		return "docker: invalid JSON";
	if (!have_log)
		return "docker: no \"log\" field";
	if (!pc->stream)
		return "docker: no valid \"stream\" field";
	if (!ts || !pl_tail_parse_time(ts, (size_t)(te - ts), &pc->ts_ns))
		return "docker: no valid \"time\" field";
	/* The runtime ends every whole line with "\n" (escaped); a piece of a longer line
	 * (Docker splits at 16 KiB) has none. */
	pc->partial = !ends_with_newline(pc->text, pc->text_end);
	if (!pc->partial)
		pc->text_end -= 2;
	pc->escaped = true;
	return NULL;
}

static const char *cri_piece(const char *p, size_t len, struct piece *pc)
{
	const char *e = p + len, *sp1, *sp2, *tag;

	sp1 = memchr(p, ' ', len);
	if (!sp1 || !pl_tail_parse_time(p, (size_t)(sp1 - p), &pc->ts_ns))
		return "cri: no valid time";
	sp2 = memchr(sp1 + 1, ' ', (size_t)(e - sp1 - 1));
	if (!sp2 || !(pc->stream = stream_of(sp1 + 1, sp2)))
		return "cri: no valid stream";
	tag = sp2 + 1;
	if (tag >= e || (*tag != 'P' && *tag != 'F') ||
	    (tag + 1 < e && tag[1] != ' ' && tag[1] != ':'))
		return "cri: no valid tag (P or F)";
	pc->partial = *tag == 'P';
	/* Further tags ("F:x") are allowed by the format; the text follows the next space. */
	while (tag < e && *tag != ' ')
		tag++;
	pc->text = tag < e ? tag + 1 : e;
	pc->text_end = e;
	pc->escaped = false;
	return NULL;
}

int pl_tail_format_detect(const char *p, size_t len)
{
	struct piece pc = { 0 };

	if (len && p[0] == '{')
		return PL_TAIL_FORMAT_DOCKER;
	if (!cri_piece(p, len, &pc))
		return PL_TAIL_FORMAT_CRI;
	return PL_TAIL_FORMAT_RAW;
}

/* ---- joining ---- */

void pl_tail_cdec_init(struct pl_tail_cdec *d, int format, uint32_t max_bytes)
{
	memset(d, 0, sizeof(*d));
	d->format = format;
	d->max_bytes = max_bytes ? max_bytes : 1;
}

void pl_tail_cdec_reset(struct pl_tail_cdec *d)
{
	for (int i = 0; i < 2; i++) {
		d->j[i].len = 0;
		d->j[i].pieces = 0;
		d->j[i].truncated = false;
	}
}

void pl_tail_cdec_free(struct pl_tail_cdec *d)
{
	for (int i = 0; i < 2; i++)
		free(d->j[i].buf);
	memset(d, 0, sizeof(*d));
}

uint64_t pl_tail_cdec_pending_off(const struct pl_tail_cdec *d)
{
	uint64_t off = UINT64_MAX;

	for (int i = 0; i < 2; i++)
		if (d->j[i].pieces && d->j[i].off < off)
			off = d->j[i].off;
	return off;
}

static int reserve(struct pl_tail_cjoin *j, size_t need)
{
	size_t cap = j->cap ? j->cap : 1024;
	char *b;

	if (need <= j->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	b = realloc(j->buf, cap);
	if (!b)
		return -1;
	j->buf = b;
	j->cap = cap;
	return 0;
}

/* Append a piece's text to the join; bytes beyond max_bytes are dropped (marked). */
static int append(struct pl_tail_cdec *d, struct pl_tail_cjoin *j, const struct piece *pc)
{
	size_t raw = (size_t)(pc->text_end - pc->text);
	size_t room = d->max_bytes - j->len, n;

	if (j->truncated || room == 0) {
		j->truncated |= raw > 0;
		return 0;
	}
	if (raw == 0)
		return 0;       /* nothing to add, and the buffer may not exist yet */
	/* Unescaping never grows the text: the body's size is enough, and the join holds at
	 * most max_bytes plus one piece (bounded by the raw line cap). */
	if (reserve(j, j->len + raw) < 0)
		return -1;
	if (pc->escaped)
		n = unescape(pc->text, pc->text_end, j->buf + j->len);
	else
		memcpy(j->buf + j->len, pc->text, n = raw);
	if (n > room) {
		n = room;
		j->truncated = true;
	}
	j->len += n;
	return 0;
}

static void emit_join(struct pl_tail_cdec *d, struct pl_tail_cjoin *j, uint64_t end,
		      const char *error, pl_tail_line_fn emit, void *arg)
{
	struct pl_tail_line l = { 0 };
	uint64_t other = d->j[0].pieces && j != &d->j[0] ? d->j[0].off :
			 d->j[1].pieces && j != &d->j[1] ? d->j[1].off : UINT64_MAX;

	l.p = j->buf ? j->buf : "";
	l.len = j->len;
	l.off = j->off;
	/* A line of the other stream still being joined began earlier: the delivered prefix
	 * must not pass it, or a restart would lose its first pieces. */
	l.end = PL_MIN(end, other);
	l.truncated = j->truncated;
	l.ts_ns = j->ts_ns;
	l.stream = j->stream;
	l.error = error;
	d->joined += j->pieces > 1 ? j->pieces - 1 : 0;
	j->len = 0;
	j->pieces = 0;
	j->truncated = false;
	emit(arg, &l);
}

static void emit_raw(struct pl_tail_cdec *d, const struct pl_tail_line *raw, const char *error,
		     pl_tail_line_fn emit, void *arg)
{
	struct pl_tail_line l = *raw;

	for (int i = 0; i < 2; i++)
		if (d->j[i].pieces && d->j[i].off < l.end)
			l.end = PL_MIN(l.end, d->j[i].off);
	l.error = error;
	d->errors++;
	emit(arg, &l);
}

int pl_tail_cdec_line(struct pl_tail_cdec *d, const struct pl_tail_line *raw,
		      pl_tail_line_fn emit, void *arg)
{
	struct piece pc = { 0 };
	struct pl_tail_cjoin *j;
	const char *err;

	if (d->format == PL_TAIL_FORMAT_AUTO)
		d->format = pl_tail_format_detect(raw->p, raw->len);
	if (d->format == PL_TAIL_FORMAT_RAW) {
		emit(arg, raw);
		return 0;
	}
	if (raw->split || raw->truncated)
		err = "container: line longer than the decoder's limit";
	else if (d->format == PL_TAIL_FORMAT_DOCKER)
		err = docker_piece(raw->p, raw->len, &pc);
	else
		err = cri_piece(raw->p, raw->len, &pc);
	if (err) {
		emit_raw(d, raw, err, emit, arg);
		return 0;
	}
	j = &d->j[pc.stream - 1];
	if (!j->pieces) {
		j->off = raw->off;
		j->ts_ns = pc.ts_ns;
		j->stream = pc.stream;
	}
	if (append(d, j, &pc) < 0)
		return -1;
	j->pieces++;
	j->end = raw->end;
	if (!pc.partial)
		emit_join(d, j, raw->end, NULL, emit, arg);
	return 0;
}

void pl_tail_cdec_flush(struct pl_tail_cdec *d, pl_tail_line_fn emit, void *arg)
{
	static const char note[] = "container: partial line not completed in this file (rotated or ended)";

	for (;;) {
		struct pl_tail_cjoin *j = d->j[0].pieces && (!d->j[1].pieces || d->j[0].off < d->j[1].off) ?
					  &d->j[0] : d->j[1].pieces ? &d->j[1] : NULL;
		if (!j)
			return;
		d->errors++;
		emit_join(d, j, j->end, note, emit, arg);
	}
}

/* ---- metadata from the path ---- */

static void copy_span(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static bool all_digits(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The last three components of path: dir2/dir1/name. */
static bool last_three(const char *path, const char **d2, size_t *n2, const char **d1,
		       size_t *n1, const char **nm)
{
	const char *s3 = strrchr(path, '/'), *s2, *s1;

	if (!s3 || s3 == path)
		return false;
	for (s2 = s3 - 1; s2 > path && *s2 != '/'; s2--)
		;
	if (*s2 != '/')
		return false;
	*d1 = s2 + 1;
	*n1 = (size_t)(s3 - *d1);
	*nm = s3 + 1;
	if (s2 == path)
		return false;
	for (s1 = s2 - 1; s1 > path && *s1 != '/'; s1--)
		;
	*d2 = *s1 == '/' ? s1 + 1 : s1;
	*n2 = (size_t)(s2 - *d2);
	return true;
}

/* .../<ns>_<pod>_<uid>/<container>/<N>.log[.*] */
static bool kube_meta(const char *path, struct pl_tail_meta *m)
{
	const char *d2, *d1, *nm, *u1, *u2, *dot;
	size_t n2, n1;

	if (!last_three(path, &d2, &n2, &d1, &n1, &nm) || !n1 || !n2)
		return false;
	dot = strchr(nm, '.');
	if (!dot || !all_digits(nm, (size_t)(dot - nm)) || strncmp(dot, ".log", 4) != 0 ||
	    (dot[4] && dot[4] != '.'))
		return false;
	u1 = memchr(d2, '_', n2);
	if (!u1)
		return false;
	u2 = memchr(u1 + 1, '_', (size_t)(d2 + n2 - u1 - 1));
	if (!u2 || u1 == d2 || u2 == u1 + 1 || u2 + 1 == d2 + n2 ||
	    memchr(u2 + 1, '_', (size_t)(d2 + n2 - u2 - 1)))
		return false;
	copy_span(m->k8s_namespace, sizeof(m->k8s_namespace), d2, (size_t)(u1 - d2));
	copy_span(m->k8s_pod, sizeof(m->k8s_pod), u1 + 1, (size_t)(u2 - u1 - 1));
	copy_span(m->k8s_uid, sizeof(m->k8s_uid), u2 + 1, (size_t)(d2 + n2 - u2 - 1));
	copy_span(m->k8s_container, sizeof(m->k8s_container), d1, n1);
	return true;
}

/* .../<id>/<id>-json.log[.N] */
static bool docker_id(const char *path, struct pl_tail_meta *m, size_t *dir_len)
{
	const char *d2, *d1, *nm;
	size_t n2, n1;

	if (!last_three(path, &d2, &n2, &d1, &n1, &nm) || n1 < 12 || n1 >= sizeof(m->container_id))
		return false;
	for (size_t i = 0; i < n1; i++)
		if (!is_hex(d1[i]))
			return false;
	if (strncmp(nm, d1, n1) != 0 || strncmp(nm + n1, "-json.log", 9) != 0 ||
	    (nm[n1 + 9] && (nm[n1 + 9] != '.' || !all_digits(nm + n1 + 10, strlen(nm + n1 + 10)))))
		return false;
	copy_span(m->container_id, sizeof(m->container_id), d1, n1);
	*dir_len = (size_t)(d1 + n1 - path);
	return true;
}

/* "Name" and "Config"."Image" of a config.v2.json held in [p, p+n). */
void pl_tail_docker_config(const char *p, size_t n, struct pl_tail_meta *m)
{
	struct jcur j = { p, p + n };
	const char *ks, *ke, *vs, *ve;
	int depth = 0;   /* 0: top level, 1: inside "Config" */

	skip_ws(&j);
	if (j.p >= j.e || *j.p++ != '{')
		return;
	for (;;) {
		skip_ws(&j);
		if (j.p < j.e && *j.p == '}' && depth == 1) {
			j.p++;
			depth = 0;
			goto next;
		}
		if (!scan_string(&j, &ks, &ke))
			return;
		skip_ws(&j);
		if (j.p >= j.e || *j.p++ != ':')
			return;
		skip_ws(&j);
		if (depth == 0 && span_is(ks, ke, "Config") && j.p < j.e && *j.p == '{') {
			j.p++;
			depth = 1;
			skip_ws(&j);
			if (j.p < j.e && *j.p == '}')
				continue;
			continue;
		}
		if (j.p < j.e && *j.p == '"' &&
		    ((depth == 0 && span_is(ks, ke, "Name")) || (depth == 1 && span_is(ks, ke, "Image")))) {
			char *dst = depth ? m->container_image : m->container_name;
			size_t cap = depth ? sizeof(m->container_image) : sizeof(m->container_name);

			if (!scan_string(&j, &vs, &ve))
				return;
			if ((size_t)(ve - vs) < cap) {
				size_t k = unescape(vs, ve, dst);
				dst[k] = '\0';
				/* Docker keeps names with a leading "/". */
				if (!depth && dst[0] == '/')
					memmove(dst, dst + 1, k);
			}
		} else if (!skip_value(&j)) {
			return;
		}
next:
		skip_ws(&j);
		if (j.p < j.e && *j.p == ',') {
			j.p++;
			continue;
		}
		if (j.p < j.e && *j.p == '}' && depth == 1)
			continue;
		return;
	}
}

static void read_docker_config(const char *dir, size_t dir_len, struct pl_tail_meta *m)
{
	char path[PATH_MAX];
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	if (dir_len + sizeof("/config.v2.json") > sizeof(path))
		return;
	memcpy(path, dir, dir_len);
	memcpy(path + dir_len, "/config.v2.json", sizeof("/config.v2.json"));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > CONFIG_MAX_BYTES || !(buf = malloc((size_t)st.st_size))) {
		close(fd);
		return;
	}
	n = pread(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (n > 0)
		pl_tail_docker_config(buf, (size_t)n, m);
	free(buf);
}

void pl_tail_meta_for(struct pl_tail_meta_cache *c, const char *path, uint64_t now_ns,
		      struct pl_tail_meta *m)
{
	struct pl_tail_meta_entry *e;
	size_t dir_len;
	unsigned i;

	memset(m, 0, sizeof(*m));
	if (kube_meta(path, m) || !docker_id(path, m, &dir_len))
		return;
	for (i = 0; i < PL_TAIL_META_CACHE; i++) {
		e = &c->e[i];
		if (e->at_ns && strcmp(e->id, m->container_id) == 0 && now_ns - e->at_ns < META_TTL_NS) {
			memcpy(m->container_name, e->name, sizeof(m->container_name));
			memcpy(m->container_image, e->image, sizeof(m->container_image));
			return;
		}
	}
	read_docker_config(path, dir_len, m);
	e = &c->e[c->next++ % PL_TAIL_META_CACHE];
	memcpy(e->id, m->container_id, sizeof(e->id));
	memcpy(e->name, m->container_name, sizeof(e->name));
	memcpy(e->image, m->container_image, sizeof(e->image));
	e->at_ns = now_ns ? now_ns : 1;
}

bool pl_tail_is_compressed_name(const char *path)
{
	size_t n = strlen(path);

	return n >= 3 && strcmp(path + n - 3, ".gz") == 0;
}
