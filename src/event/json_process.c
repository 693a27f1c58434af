/* json_process.c – renders the process fields an event carries (struct pl_event_procs, filled
 * by src/proc/): process.* when one side of the connection is local, client.process.* and
 * server.process.* when both are. Called from json.c's renderer at three places; writes with
 * explicit room checks (no allocation). */
#include <string.h>
#include "pktlog/event.h"

/* Fixed text of one process object and its numbers (pid, ppid, uid, args_count). */
#define PROC_FIXED 256

static char *lit(char *p, const char *end, const char *s)
{
	size_t n = strlen(s);

	if (!p || (size_t)(end - p) < n)
		return NULL;
	memcpy(p, s, n);
	return p + n;
}

static char *num(char *p, const char *end, int64_t v)
{
	char b[24], *e = b + sizeof(b), *s;
	bool neg = v < 0;

	s = pl_u64_digits(neg ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v, e);
	if (neg)
		*--s = '-';
	if (!p || (size_t)(end - p) < (size_t)(e - s))
		return NULL;
	memcpy(p, s, (size_t)(e - s));
	return p + (e - s);
}

static char *str(char *p, const char *end, struct pl_str s)
{
	p = lit(p, end, "\"");
	p = p ? pl_json_escape(p, end, s.p, s.len) : NULL;
	return lit(p, end, "\"");
}

/* "process":{...} (no leading comma) */
static char *process_obj(char *p, const char *end, const struct pl_event_process *pr)
{
	p = lit(p, end, "\"process\":{\"pid\":");
	p = num(p, end, pr->pid);
	if (pr->name.len) {
		p = lit(p, end, ",\"name\":");
		p = str(p, end, pr->name);
	}
	if (pr->executable.len) {
		p = lit(p, end, ",\"executable\":");
		p = str(p, end, pr->executable);
	}
	if (pr->n_args) {
		p = lit(p, end, ",\"args\":[");
		for (int i = 0; i < pr->n_args; i++) {
			if (i)
				p = lit(p, end, ",");
			p = str(p, end, pr->args[i]);
		}
		p = lit(p, end, "]");
	}
	if (pr->args_count) {   /* 0: unknown (a command line read in part) */
		p = lit(p, end, ",\"args_count\":");
		p = num(p, end, pr->args_count);
	}
	if (pr->ppid >= 0) {
		p = lit(p, end, ",\"parent\":{\"pid\":");
		p = num(p, end, pr->ppid);
		p = lit(p, end, "}");
	}
	if (pr->has_uid) {
		p = lit(p, end, ",\"user\":{\"id\":\"");
		p = num(p, end, pr->uid);
		p = lit(p, end, "\"}");
	}
	return lit(p, end, "}");
}

char *pl_event_json_process(const struct pl_event *ev, int where, char *p, const char *end)
{
	const struct pl_event_process *c = ev->process.client, *s = ev->process.server, *one;

	if (!c && !s)
		return p;
	if (p > end)
		return NULL;   /* no room even for the brace the caller keeps back */
	if (c && s) {
		if (where == 't')
			return p;
		/* inside the endpoint object: p is where its closing brace was */
		p = lit(p, end, ",");
		return process_obj(p, end, where == 'c' ? c : s);
	}
	if (where != 't')
		return p;
	one = c ? c : s;
	p = lit(p, end, ",");
	return process_obj(p, end, one);
}

static size_t one_bound(const struct pl_event_process *pr)
{
	size_t n = pr->name.len + pr->executable.len;

	for (int i = 0; i < pr->n_args; i++)
		n += pr->args[i].len + 4;
	return PROC_FIXED + 6 * n;
}

size_t pl_event_json_process_bound(const struct pl_event *ev)
{
	return (ev->process.client ? one_bound(ev->process.client) : 0) +
	       (ev->process.server ? one_bound(ev->process.server) : 0);
}
