/* render.c – one tailed record as one JSON line (ECS names as Filebeat writes them).
 * Bytes from files are untrusted: control bytes are escaped and invalid UTF-8 becomes
 * \ufffd (pl_json_escape), so the output is always valid JSON. Must not allocate. The tailer's hot path
 * (pl_tail_render_tpl) renders a file's unchanging parts once and only the message per line;
 * pl_tail_render is the same output in one call. */
#include <string.h>
#include "pktlog/event.h"
#include "pktlog/tail.h"
#include "render.h"

struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Escaped by the event renderer's escaper (pl_json_escape): one set of rules for every
 * string pktlog writes. */
static void put_escaped(struct out *o, const char *s, size_t n)
{
	char *e;

	if (o->full)
		return;
	e = pl_json_escape(o->p + o->len, o->p + o->cap, s, n);
	if (!e)
		o->full = true;
	else
		o->len = (size_t)(e - o->p);
}

static void kv_str(struct out *o, const char *key, const char *s, size_t n)
{
	puts_(o, key);
	put(o, "\"", 1);
	put_escaped(o, s, n);
	put(o, "\"", 1);
}

static void put_u64(struct out *o, uint64_t v)
{
	char b[24];
	char *d = pl_u64_digits(v, b + sizeof(b));

	put(o, d, (size_t)(b + sizeof(b) - d));
}

static void flags(struct out *o, const struct pl_tail_line *rec, bool multiline)
{
	bool first = true;

	if (!rec->truncated && !rec->split && !multiline)
		return;
	puts_(o, ",\"flags\":[");
	if (multiline) {
		puts_(o, "\"multiline\"");
		first = false;
	}
	if (rec->truncated) {
		puts_(o, first ? "\"truncated\"" : ",\"truncated\"");
		first = false;
	}
	if (rec->split)
		puts_(o, first ? "\"split\"" : ",\"split\"");
	put(o, "]", 1);
}

/* `,"log":{"file":{"path":"…"},"offset":` */
static void put_mid(struct out *o, const char *path)
{
	puts_(o, ",\"log\":{\"file\":{\"path\":\"");
	put_escaped(o, path, strlen(path));
	puts_(o, "\"},\"offset\":");
}

static void meta_str(struct out *o, bool *first, const char *key, const char *v)
{
	if (!v[0])
		return;
	if (!*first)
		put(o, ",", 1);
	*first = false;
	kv_str(o, key, v, strlen(v));
}

/* `,"container":{"id":…,"name":…,"image":{"name":…}},"kubernetes":{…}` for what is known. */
static void put_meta(struct out *o, const struct pl_tail_meta *m)
{
	bool first = true;

	if (!m)
		return;
	if (m->container_id[0]) {
		puts_(o, ",\"container\":{");
		meta_str(o, &first, "\"id\":", m->container_id);
		meta_str(o, &first, "\"name\":", m->container_name);
		if (m->container_image[0]) {
			kv_str(o, ",\"image\":{\"name\":", m->container_image,
			       strlen(m->container_image));
			put(o, "}", 1);
		}
		put(o, "}", 1);
	}
	if (m->k8s_namespace[0]) {
		kv_str(o, ",\"kubernetes\":{\"namespace\":", m->k8s_namespace, strlen(m->k8s_namespace));
		kv_str(o, ",\"pod\":{\"name\":", m->k8s_pod, strlen(m->k8s_pod));
		kv_str(o, ",\"uid\":", m->k8s_uid, strlen(m->k8s_uid));
		kv_str(o, "},\"container\":{\"name\":", m->k8s_container, strlen(m->k8s_container));
		puts_(o, "}}");
	}
}

/* What follows the flags: `},"host":{…},"input":{…},"fields":{…}}` */
static void put_end(struct out *o, const char *host_name, const struct pl_tail_fields *fields,
		    const struct pl_tail_meta *meta)
{
	int i;

	put(o, "}", 1);
	if (host_name)
		kv_str(o, ",\"host\":{\"name\":", host_name, strlen(host_name));
	if (host_name)
		put(o, "}", 1);
	puts_(o, ",\"input\":{\"type\":\"log\"}");
	put_meta(o, meta);
	if (fields && fields->n) {
		puts_(o, ",\"fields\":{");
		for (i = 0; i < fields->n; i++) {
			if (i)
				put(o, ",", 1);
			kv_str(o, "", fields->keys[i], strlen(fields->keys[i]));
			kv_str(o, ":", fields->values[i], strlen(fields->values[i]));
		}
		put(o, "}", 1);
	}
	put(o, "}", 1);
}

/* `{"@timestamp":"…","message":"…"`, then what a container format gave: the stream, the
 * read time as event.created when @timestamp is the runtime's, an error note. */
static void put_head(struct out *o, const char *ts, size_t ts_len, const struct pl_tail_line *rec)
{
	char rt[40];

	puts_(o, "{\"@timestamp\":\"");
	if (rec->ts_ns)
		put(o, rt, pl_format_time(rec->ts_ns, rt));
	else
		put(o, ts, ts_len);
	puts_(o, "\",\"message\":\"");
	put_escaped(o, rec->p, rec->len);
	put(o, "\"", 1);
	if (rec->stream)
		puts_(o, rec->stream == PL_TAIL_STREAM_STDOUT ? ",\"stream\":\"stdout\"" :
		      ",\"stream\":\"stderr\"");
	if (rec->ts_ns) {
		puts_(o, ",\"event\":{\"created\":\"");
		put(o, ts, ts_len);
		puts_(o, "\"}");
	}
	if (rec->error) {
		kv_str(o, ",\"error\":{\"message\":", rec->error, strlen(rec->error));
		put(o, "}", 1);
	}
}

size_t pl_tail_render(char *buf, size_t cap, uint64_t now_ns, const struct pl_tail_line *rec,
		      bool multiline, const char *path, const char *host_name,
		      const struct pl_tail_fields *fields)
{
	struct out o = { buf, 0, cap, false };
	char ts[32];
	size_t n = pl_format_time(now_ns, ts);

	put_head(&o, ts, n, rec);
	put_mid(&o, path);
	put_u64(&o, rec->off);
	flags(&o, rec, multiline);
	put_end(&o, host_name, fields, NULL);
	return o.full ? 0 : o.len;
}

int pl_tail_tpl_build(struct pl_tail_tpl *tpl, const char *path, const char *host_name,
		      const struct pl_tail_fields *fields, const struct pl_tail_meta *meta)
{
	struct out o = { tpl->buf, 0, tpl->cap, false };

	put_mid(&o, path);
	tpl->mid_len = o.len;
	put_end(&o, host_name, fields, meta);
	tpl->end_len = o.len - tpl->mid_len;
	return o.full ? -1 : 0;
}

size_t pl_tail_render_tpl(char *buf, size_t cap, const char *ts, size_t ts_len,
			  const struct pl_tail_line *rec, bool multiline, const struct pl_tail_tpl *tpl)
{
	struct out o = { buf, 0, cap, false };

	put_head(&o, ts, ts_len, rec);
	put(&o, tpl->buf, tpl->mid_len);
	put_u64(&o, rec->off);
	flags(&o, rec, multiline);
	put(&o, tpl->buf + tpl->mid_len, tpl->end_len);
	return o.full ? 0 : o.len;
}

size_t pl_tail_render_bound(size_t n, size_t extra)
{
	/* \u00XX is the longest escape: 6 bytes per input byte. */
	return 6 * n + 6 * extra + 512;
}
