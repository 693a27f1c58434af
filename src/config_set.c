/* config_set.c – the options-table mechanism of the config loader: one setter per row type
 * (pktlog/options.h), the walk of a sub-table (a tail input, its multiline section), and
 * every table's defaults and clean-up. Setters write the row's C type at the row's offset
 * in the base struct they are given (the macros of options.h checked the type); values
 * are validated here, with "FILE:LINE: KEY: message" errors. Must not log. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <regex.h>

#include "config_int.h"

#define FIELD(base, o, T) ((T *)((char *)(base) + (o)->off))
#define COUNT(base, o) ((int *)((char *)(base) + (o)->count_off))

struct duration_unit {
	const char *suffix;
	uint64_t ns;
};

static const struct duration_unit duration_units[] = {
	{ "ns", 1 },
	{ "us", 1000 },
	{ "ms", 1000000 },
	{ "s", PL_NS_PER_SEC },
	{ "m", 60 * PL_NS_PER_SEC },
	{ "h", 3600 * PL_NS_PER_SEC },
};

/* ---- small helpers ---- */

unsigned long cfg_line(const yaml_node_t *n)
{
	return n ? (unsigned long)n->start_mark.line + 1 : 0;
}

int cfg_fail(struct ctx *c, unsigned long line, const char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->err || c->errlen == 0)
		return -1;
	n = snprintf(c->err, c->errlen, "%s:%lu: %s: ", c->name, line, key);
	if (n < 0 || (size_t)n >= c->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Copy at most buflen - 1 bytes of a file-supplied string for a message, with control
 * bytes masked so a hostile file cannot put escape sequences on the operator's terminal. */
const char *cfg_show(const char *p, size_t len, char *buf, size_t buflen)
{
	size_t i, n = PL_MIN(len, buflen - 1);

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	buf[n] = '\0';
	return buf;
}

const char *cfg_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "a scalar";
	}
}

bool cfg_is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (i = 0; i < PL_ARRAY_LEN(nulls); i++)
		if (strcmp(sval(n), nulls[i]) == 0)
			return true;
	return false;
}

static int want_scalar(struct ctx *c, const yaml_node_t *n, const char *key, const char *what)
{
	if (n->type == YAML_SCALAR_NODE)
		return 0;
	return cfg_fail(c, cfg_line(n), key, "expected %s, found %s", what, cfg_kind(n));
}

/* Decimal digits only: YAML 1.1's octal/hex/sexagesimal forms are surprises, not features. */
static int parse_u64(const char *s, size_t len, size_t *used, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		i++;
	}
	if (i == 0)
		return -1;
	*used = i;
	*out = v;
	return 0;
}

static int want_list(struct ctx *c, const yaml_node_t *v, const char *key, const char *what)
{
	if (v->type == YAML_SEQUENCE_NODE || cfg_is_null(v))
		return 0;
	return cfg_fail(c, cfg_line(v), key, "expected a list of %s, found %s", what, cfg_kind(v));
}

static int list_len(const yaml_node_t *v)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return 0;
	return (int)(v->data.sequence.items.top - v->data.sequence.items.start);
}

static const yaml_node_t *list_item(struct ctx *c, const yaml_node_t *v, int i)
{
	return yaml_document_get_node(c->doc, v->data.sequence.items.start[i]);
}

/* Build "prefix.key" into buf; false when the key cannot be a known option (too long,
 * control bytes, NUL), in which case buf still holds a printable version for the message. */
bool cfg_make_key(const char *prefix, const yaml_node_t *k, char *buf, size_t buflen)
{
	char shown[KEY_MAX + 1];
	bool exact;
	int n;

	cfg_show(sval(k), slen(k), shown, sizeof(shown));
	/* cfg_show() truncates and masks, so an unchanged copy proves the key is plain. */
	exact = strlen(sval(k)) == slen(k) && strcmp(shown, sval(k)) == 0;
	n = snprintf(buf, buflen, "%s%s%s", prefix, *prefix ? "." : "", shown);
	return exact && n > 0 && (size_t)n <= KEY_MAX;
}

static bool same_scalar(const yaml_node_t *a, const yaml_node_t *b)
{
	return slen(a) == slen(b) && memcmp(sval(a), sval(b), slen(a)) == 0;
}

/* Keys earlier in the mapping were all known options (the walk stops at the first unknown
 * one), so this scan is bounded by the size of the option table, not by the input. */
const yaml_node_t *cfg_earlier_key(struct ctx *c, const yaml_node_t *map,
				   const yaml_node_pair_t *upto, const yaml_node_t *k)
{
	const yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < upto; p++) {
		const yaml_node_t *prev = yaml_document_get_node(c->doc, p->key);
		if (prev && prev->type == YAML_SCALAR_NODE && same_scalar(prev, k))
			return prev;
	}
	return NULL;
}

/* ---- value setters, one per row type ---- */

static int set_string(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		      const char *key, void *base)
{
	char **dst = FIELD(base, o, char *);
	char *copy = NULL;

	if (want_scalar(c, v, key, "a string") < 0)
		return -1;
	if (cfg_is_null(v) || slen(v) == 0) {
		if (!(o->flags & PL_OPT_NULLABLE))
			return cfg_fail(c, cfg_line(v), key, "must not be empty");
	} else {
		if (strlen(sval(v)) != slen(v))
			return cfg_fail(c, cfg_line(v), key, "contains a NUL byte");
		if (cfg_check_string(c, o->check, sval(v), v, key) < 0)
			return -1;
		copy = strdup(sval(v));
		if (!copy)
			return cfg_fail(c, cfg_line(v), key, "out of memory");
	}
	free(*dst);
	*dst = copy;
	return 0;
}

/* A non-empty string without NUL bytes, copied into *out. */
static int set_text_at(struct ctx *c, const yaml_node_t *v, const char *key, char **out)
{
	char *p;

	if (want_scalar(c, v, key, "a string") < 0)
		return -1;
	if (slen(v) == 0 || cfg_is_null(v) || strlen(sval(v)) != slen(v))
		return cfg_fail(c, cfg_line(v), key, "must be non-empty text");
	p = strdup(sval(v));
	if (!p)
		return cfg_fail(c, cfg_line(v), key, "out of memory");
	free(*out);
	*out = p;
	return 0;
}

static int set_text(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		    const char *key, void *base)
{
	return set_text_at(c, v, key, FIELD(base, o, char *));
}

static int set_regex(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		     const char *key, void *base)
{
	char **out = FIELD(base, o, char *);
	regex_t re;
	int rc;

	if (set_text_at(c, v, key, out) < 0)
		return -1;
	rc = regcomp(&re, *out, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char msg[128];
		regerror(rc, &re, msg, sizeof(msg));
		return cfg_fail(c, cfg_line(v), key, "invalid regular expression: %s", msg);
	}
	regfree(&re);
	return 0;
}

/* A whole number in o's range, for set_u32 and set_u64. */
static int read_count(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		      const char *key, uint64_t *n)
{
	char buf[SHOW_MAX + 1];
	size_t used;

	if (want_scalar(c, v, key, "a number") < 0)
		return -1;
	if (slen(v) == 0 || strspn(sval(v), "0123456789") != slen(v))
		return cfg_fail(c, cfg_line(v), key, "expected a number, found \"%s\"",
				cfg_show(sval(v), slen(v), buf, sizeof(buf)));
	/* All digits: the only way to fail now is a number too big for 64 bits. */
	if (parse_u64(sval(v), slen(v), &used, n) < 0 || *n < o->min || *n > o->max)
		return cfg_fail(c, cfg_line(v), key, "%s is out of range %llu-%llu",
				cfg_show(sval(v), slen(v), buf, sizeof(buf)),
				(unsigned long long)o->min, (unsigned long long)o->max);
	return 0;
}

static int set_u32(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		   const char *key, void *base)
{
	uint64_t n;

	if (read_count(c, o, v, key, &n) < 0)
		return -1;
	*FIELD(base, o, uint32_t) = (uint32_t)n;
	return 0;
}

static int set_u64(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		   const char *key, void *base)
{
	uint64_t n;

	if (read_count(c, o, v, key, &n) < 0)
		return -1;
	*FIELD(base, o, uint64_t) = n;
	return 0;
}

static int set_bool(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		    const char *key, void *base)
{
	static const struct { const char *word; bool val; } words[] = {
		{ "true", true }, { "yes", true }, { "on", true },
		{ "false", false }, { "no", false }, { "off", false },
	};
	char buf[SHOW_MAX + 1];
	size_t i;

	if (want_scalar(c, v, key, "true or false") < 0)
		return -1;
	for (i = 0; i < PL_ARRAY_LEN(words); i++) {
		if (strcasecmp(sval(v), words[i].word) == 0 && strlen(sval(v)) == slen(v)) {
			*FIELD(base, o, bool) = words[i].val;
			return 0;
		}
	}
	return cfg_fail(c, cfg_line(v), key, "expected true or false (or yes/no, on/off), found \"%s\"",
			cfg_show(sval(v), slen(v), buf, sizeof(buf)));
}

/* "500ms", "10s", "1m", "2h", "250us", "100ns"; a bare number counts seconds. */
static int parse_duration(const char *s, size_t len, uint64_t *ns)
{
	const char *unit;
	uint64_t n;
	size_t used, i;

	if (parse_u64(s, len, &used, &n) < 0)
		return -1;
	unit = used == len ? "s" : s + used;
	if (used != len && strlen(unit) != len - used) /* a NUL inside the scalar */
		return -1;
	for (i = 0; i < PL_ARRAY_LEN(duration_units); i++) {
		const struct duration_unit *u = &duration_units[i];
		if (strcmp(unit, u->suffix) != 0)
			continue;
		if (n > UINT64_MAX / u->ns)
			return -2;
		*ns = n * u->ns;
		return 0;
	}
	return -1;
}

static int set_duration(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
			const char *key, void *base)
{
	char buf[SHOW_MAX + 1];
	uint64_t ns = 0;
	int rc;

	if (want_scalar(c, v, key, "a duration") < 0)
		return -1;
	rc = parse_duration(sval(v), slen(v), &ns);
	if (rc == -2)
		return cfg_fail(c, cfg_line(v), key, "duration \"%s\" is too long",
				cfg_show(sval(v), slen(v), buf, sizeof(buf)));
	if (rc < 0)
		return cfg_fail(c, cfg_line(v), key,
				"expected a duration such as 500ms, 10s, 1m or 2h, found \"%s\"",
				cfg_show(sval(v), slen(v), buf, sizeof(buf)));
	if (ns == 0)
		return cfg_fail(c, cfg_line(v), key, "duration must be greater than 0");
	*FIELD(base, o, uint64_t) = ns;
	return 0;
}

static int parse_port(struct ctx *c, const yaml_node_t *item, const char *key, uint16_t *port)
{
	char buf[SHOW_MAX + 1];
	uint64_t n;
	size_t used;

	if (want_scalar(c, item, key, "a port number") < 0)
		return -1;
	if (parse_u64(sval(item), slen(item), &used, &n) < 0 || used != slen(item)) {
		if (slen(item) > 0 && strspn(sval(item), "0123456789") == slen(item))
			return cfg_fail(c, cfg_line(item), key, "port %s is out of range 1-65535",
					cfg_show(sval(item), slen(item), buf, sizeof(buf)));
		return cfg_fail(c, cfg_line(item), key, "expected a port number, found \"%s\"",
				cfg_show(sval(item), slen(item), buf, sizeof(buf)));
	}
	if (n < 1 || n > 65535)
		return cfg_fail(c, cfg_line(item), key, "port %llu is out of range 1-65535",
				(unsigned long long)n);
	*port = (uint16_t)n;
	return 0;
}

size_t cfg_proto_slot(size_t off)
{
	size_t i;

	for (i = 0; i < pl_n_protocols && pl_protocols[i].ports_off != off; i++)
		;
	return i;
}

static int set_ports(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		     const char *key, void *base)
{
	struct pl_port_list tmp = { .n = 0 };
	int i, n = list_len(v);
	size_t slot = cfg_proto_slot(o->off);

	if (want_list(c, v, key, "ports") < 0)
		return -1;
	if (n == 0)
		return cfg_fail(c, cfg_line(v), key, "the port list is empty");
	if (n > PL_MAX_PORTS)
		return cfg_fail(c, cfg_line(list_item(c, v, PL_MAX_PORTS)), key,
				"more than %d ports", PL_MAX_PORTS);
	for (i = 0; i < n; i++) {
		const yaml_node_t *item = list_item(c, v, i);
		uint16_t port = 0;

		if (parse_port(c, item, key, &port) < 0)
			return -1;
		if (pl_port_list_has(&tmp, port))
			return cfg_fail(c, cfg_line(item), key, "port %u is listed twice", port);
		tmp.port[tmp.n++] = port;
		if (slot < PL_PROTO_MAX)
			c->port_line[slot][i] = cfg_line(item);
	}
	*FIELD(base, o, struct pl_port_list) = tmp;
	return 0;
}

static int set_enum(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		    const char *key, void *base)
{
	const struct pl_opt_choices *t = o->choices;
	char buf[SHOW_MAX + 1];
	size_t i;

	if (want_scalar(c, v, key, t->scalar_what ? t->scalar_what : t->what) < 0)
		return -1;
	for (i = 0; i < t->n; i++) {
		if (strcmp(sval(v), t->names[i]) == 0 && strlen(sval(v)) == slen(v)) {
			if (o->size == sizeof(bool))
				*FIELD(base, o, bool) = i != 0;
			else
				*FIELD(base, o, int) = (int)i;
			return 0;
		}
	}
	return cfg_fail(c, cfg_line(v), key, "expected %s, found \"%s\"", t->what,
			cfg_show(sval(v), slen(v), buf, sizeof(buf)));
}

static void free_list(const struct pl_option *o, void *base)
{
	char **arr = FIELD(base, o, char *);
	int *n = COUNT(base, o);

	for (int i = 0; i < *n && (uint64_t)i < o->max; i++) {
		free(arr[i]);
		arr[i] = NULL;
		if (o->off2) {
			char **vals = (char **)((char *)base + o->off2);
			free(vals[i]);
			vals[i] = NULL;
		}
	}
	*n = 0;
}

static int set_headers(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		       const char *key, void *base)
{
	char **arr = FIELD(base, o, char *);
	int *count = COUNT(base, o);
	int i, n = list_len(v);

	if (want_list(c, v, key, "header names") < 0)
		return -1;
	if ((uint64_t)n > o->max)
		return cfg_fail(c, cfg_line(list_item(c, v, (int)o->max)), key,
				"more than %d headers", (int)o->max);
	free_list(o, base);
	for (i = 0; i < n; i++) {
		const yaml_node_t *item = list_item(c, v, i);
		char *name;
		size_t j;

		if (want_scalar(c, item, key, "a header name") < 0)
			return -1;
		if (slen(item) == 0 || strlen(sval(item)) != slen(item))
			return cfg_fail(c, cfg_line(item), key, "header names must be non-empty text");
		name = strdup(sval(item));
		if (!name)
			return cfg_fail(c, cfg_line(item), key, "out of memory");
		/* HTTP header names are case-insensitive; storing them folded lets the
		 * protocol compare bytes without a locale. */
		for (j = 0; name[j]; j++)
			if (name[j] >= 'A' && name[j] <= 'Z')
				name[j] = (char)(name[j] - 'A' + 'a');
		arr[(*count)++] = name;
	}
	return 0;
}

/* One text or a list of them (freed and refilled). */
static int set_text_list(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
			 const char *key, void *base)
{
	char **arr = FIELD(base, o, char *);
	int *n = COUNT(base, o);
	int i, len;

	free_list(o, base);
	if (v->type == YAML_SCALAR_NODE)
		return set_text_at(c, v, key, &arr[(*n)++]);
	if (want_list(c, v, key, "path patterns") < 0)
		return -1;
	len = list_len(v);
	if ((uint64_t)len > o->max)
		return cfg_fail(c, cfg_line(v), key, "more than %d patterns", (int)o->max);
	for (i = 0; i < len; i++) {
		if (set_text_at(c, list_item(c, v, i), key, &arr[*n]) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

static int set_fields(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		      const char *key, void *base)
{
	char **keys = FIELD(base, o, char *), **vals = (char **)((char *)base + o->off2);
	int *n = COUNT(base, o);
	const yaml_node_pair_t *p;

	if (cfg_is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return cfg_fail(c, cfg_line(v), key, "expected a mapping of field: value, found %s",
				cfg_kind(v));
	for (p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *val = yaml_document_get_node(c->doc, p->value);

		if (!k || !val)
			return cfg_fail(c, cfg_line(v), key, "malformed mapping");
		if ((uint64_t)*n >= o->max)
			return cfg_fail(c, cfg_line(k), key, "more than %d fields", (int)o->max);
		if (set_text_at(c, k, key, &keys[*n]) < 0 || set_text_at(c, val, key, &vals[*n]) < 0) {
			(*n)++; /* so the half-set pair is freed */
			return -1;
		}
		(*n)++;
	}
	return 0;
}

static int set_prop(struct ctx *c, const struct pl_option *o, const yaml_node_t *k,
		    const yaml_node_t *v, const char *key, void *base)
{
	char **keys = FIELD(base, o, char *), **vals = (char **)((char *)base + o->off2);
	unsigned long *lines = (unsigned long *)((char *)base + o->line_off);
	int *count = COUNT(base, o), n = *count;
	char kbuf[SHOW_MAX + 1];
	char full[KEY_MAX + SHOW_MAX + 2];

	snprintf(full, sizeof(full), "%s.%s", key, cfg_show(sval(k), slen(k), kbuf, sizeof(kbuf)));
	if (v->type != YAML_SCALAR_NODE)
		return cfg_fail(c, cfg_line(v), full, "expected a value, found %s", cfg_kind(v));
	if (strlen(sval(k)) != slen(k) || strlen(sval(v)) != slen(v) || slen(k) == 0)
		return cfg_fail(c, cfg_line(k), full, "names and values must be non-empty text");
	if ((uint64_t)n == o->max)
		return cfg_fail(c, cfg_line(k), full, "more than %d properties", (int)o->max);
	keys[n] = strdup(sval(k));
	vals[n] = strdup(sval(v));
	lines[n] = cfg_line(k);
	*count = n + 1;
	if (!keys[n] || !vals[n])
		return cfg_fail(c, cfg_line(k), full, "out of memory");
	return 0;
}

/* A map of librdkafka properties, stored with their lines; whether librdkafka knows them
 * is the Kafka output's to say when it opens (pl_kafka_check_properties). */
static int set_props(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		     const char *key, void *base)
{
	const yaml_node_pair_t *p;
	int rc = 0;

	if (cfg_is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return cfg_fail(c, cfg_line(v), key,
				"expected a mapping of librdkafka properties, found %s", cfg_kind(v));
	for (p = v->data.mapping.pairs.start; rc == 0 && p < v->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *val = yaml_document_get_node(c->doc, p->value);

		if (!k || !val || k->type != YAML_SCALAR_NODE)
			rc = cfg_fail(c, cfg_line(v), key, "property names must be plain words");
		else
			rc = set_prop(c, o, k, val, key, base);
	}
	return rc;
}

static int set_section(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
		       const char *key, void *base)
{
	if (v->type == YAML_MAPPING_NODE)
		return o->sub ? cfg_walk_table(c, o->sub, v, key, base) : cfg_walk_mapping(c, v, key);
	if (cfg_is_null(v)) /* "capture:" with everything commented out below it */
		return 0;
	return cfg_fail(c, cfg_line(v), key, "expected a mapping of options, found %s", cfg_kind(v));
}

/* A list of mappings, each one item walked with the row's sub-table from its defaults. */
static int set_table_list(struct ctx *c, const struct pl_option *o, const yaml_node_t *v,
			  const char *key, void *base)
{
	const char *noun = strrchr(key, '.') ? strrchr(key, '.') + 1 : key;
	char *items = FIELD(base, o, char);
	int *count = COUNT(base, o);
	int i, n = list_len(v);

	if (want_list(c, v, key, noun) < 0)
		return -1;
	if ((uint64_t)n > o->max)
		return cfg_fail(c, cfg_line(v), key, "more than %d %s", (int)o->max, noun);
	for (i = 0; i < *count; i++)
		cfg_table_free(o->sub, items + (size_t)i * o->size);
	*count = 0;
	for (i = 0; i < n; i++) {
		const yaml_node_t *map = list_item(c, v, i);
		void *item = items + (size_t)(*count)++ * o->size;

		memset(item, 0, o->size);
		if (cfg_table_defaults(o->sub, item) < 0)
			return cfg_fail(c, cfg_line(map), key, "out of memory");
		if (map->type != YAML_MAPPING_NODE)
			return cfg_fail(c, cfg_line(map), key, "%s, found %s", o->sub->item_what,
					cfg_kind(map));
		if (cfg_walk_table(c, o->sub, map, key, item) < 0)
			return -1;
	}
	return 0;
}

typedef int (*setter_fn)(struct ctx *, const struct pl_option *, const yaml_node_t *,
			 const char *, void *);

static const setter_fn setters[] = {
	[PL_OPT_SECTION] = set_section,
	[PL_OPT_STRING] = set_string,
	[PL_OPT_TEXT] = set_text,
	[PL_OPT_REGEX] = set_regex,
	[PL_OPT_U32] = set_u32,
	[PL_OPT_U64] = set_u64,
	[PL_OPT_BOOL] = set_bool,
	[PL_OPT_DURATION] = set_duration,
	[PL_OPT_PORTS] = set_ports,
	[PL_OPT_ENUM] = set_enum,
	[PL_OPT_HEADERS] = set_headers,
	[PL_OPT_TEXT_LIST] = set_text_list,
	[PL_OPT_FIELDS] = set_fields,
	[PL_OPT_PROPS] = set_props,
	[PL_OPT_TABLE_LIST] = set_table_list,
};

int cfg_set(struct ctx *c, const struct pl_option *o, const yaml_node_t *v, const char *key,
	    void *base)
{
	return setters[o->type](c, o, v, key, base);
}

/* ---- a sub-table's walk ---- */

static const struct pl_option *table_row(const struct pl_opt_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->rows[i].key, name) == 0)
			return &t->rows[i];
	return NULL;
}

int cfg_walk_table(struct ctx *c, const struct pl_opt_table *t, const yaml_node_t *map,
		   const char *prefix, void *base)
{
	const yaml_node_pair_t *p;
	char key[KEY_MAX + 64];
	const char *why;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *val = yaml_document_get_node(c->doc, p->value);
		const struct pl_option *o;

		if (!k || !val || k->type != YAML_SCALAR_NODE)
			return cfg_fail(c, cfg_line(map), prefix, "malformed mapping");
		o = cfg_make_key(prefix, k, key, sizeof(key)) ? table_row(t, sval(k)) : NULL;
		if (cfg_earlier_key(c, map, p, k))
			return cfg_fail(c, cfg_line(k), key, "duplicate key");
		if (!o)
			return cfg_fail(c, cfg_line(k), key, "unknown option (expected %s)", t->expected);
		if (cfg_set(c, o, val, key, base) < 0)
			return -1;
	}
	why = t->check ? t->check(base) : NULL;
	return why ? cfg_fail(c, cfg_line(map), prefix, "%s", why) : 0;
}

/* ---- defaults and clean-up ---- */

static int row_default(const struct pl_option *o, void *base)
{
	switch (o->type) {
	case PL_OPT_SECTION:
		return o->sub ? cfg_table_defaults(o->sub, base) : 0;
	case PL_OPT_STRING:
		if (!o->def_str)
			return 0;
		*FIELD(base, o, char *) = strdup(o->def_str);
		return *FIELD(base, o, char *) ? 0 : -1;
	case PL_OPT_U32:
		*FIELD(base, o, uint32_t) = (uint32_t)o->def;
		return 0;
	case PL_OPT_U64:
	case PL_OPT_DURATION:
		*FIELD(base, o, uint64_t) = o->def;
		return 0;
	case PL_OPT_BOOL:
		*FIELD(base, o, bool) = o->def != 0;
		return 0;
	case PL_OPT_ENUM:
		if (o->size == sizeof(bool))
			*FIELD(base, o, bool) = o->def != 0;
		else
			*FIELD(base, o, int) = (int)o->def;
		return 0;
	case PL_OPT_PORTS: {
		/* A protocol's ports: its registry row's default ports. */
		size_t slot = cfg_proto_slot(o->off);
		struct pl_port_list *l = FIELD(base, o, struct pl_port_list);

		if (slot >= pl_n_protocols)
			return 0;
		memcpy(l->port, pl_protocols[slot].default_ports,
		       pl_protocols[slot].n_default_ports * sizeof(l->port[0]));
		l->n = (int)pl_protocols[slot].n_default_ports;
		return 0;
	}
	default:    /* text, lists and maps start empty */
		return 0;
	}
}

int cfg_table_defaults(const struct pl_opt_table *t, void *base)
{
	for (size_t i = 0; i < t->n; i++)
		if (row_default(&t->rows[i], base) < 0)
			return -1;
	return 0;
}

void cfg_table_free(const struct pl_opt_table *t, void *base)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct pl_option *o = &t->rows[i];

		switch (o->type) {
		case PL_OPT_SECTION:
			if (o->sub)
				cfg_table_free(o->sub, base);
			break;
		case PL_OPT_STRING:
		case PL_OPT_TEXT:
		case PL_OPT_REGEX:
			free(*FIELD(base, o, char *));
			*FIELD(base, o, char *) = NULL;
			break;
		case PL_OPT_HEADERS:
		case PL_OPT_TEXT_LIST:
		case PL_OPT_FIELDS:
		case PL_OPT_PROPS:
			free_list(o, base);
			break;
		case PL_OPT_TABLE_LIST:
			for (int j = 0; j < *COUNT(base, o) && (uint64_t)j < o->max; j++)
				cfg_table_free(o->sub, FIELD(base, o, char) + (size_t)j * o->size);
			*COUNT(base, o) = 0;
			break;
		default:
			break;
		}
	}
}
