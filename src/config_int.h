/* config_int.h – what the config loader's files share (src/config*.c): the parsing state,
 * the YAML helpers, the walk over an options table and the setters. Not for other
 * modules: they see include/pktlog/config.h and options.h. */
#ifndef PKTLOG_CONFIG_INT_H
#define PKTLOG_CONFIG_INT_H

#include <yaml.h>
#include "pktlog/config.h"
#include "pktlog/options.h"
#include "pktlog/registry.h"

/* Longest dotted key we ever look up; longer keys are unknown by construction. */
#define KEY_MAX 128
/* How much of a bad value or key is echoed back in a message. */
#define SHOW_MAX 48
/* Rows the top-level table may have (lines kept per row for cross-field checks). */
#define TOP_ROWS_MAX 128

/* Parsing state: the lines are kept so cross-field checks, made after the walk, can
 * still point at the place in the file the user has to change. */
struct ctx {
	const char *name;
	yaml_document_t *doc;
	struct pl_config *cfg;
	char *err;
	size_t errlen;
	unsigned long port_line[PL_PROTO_MAX][PL_MAX_PORTS]; /* by registry row; 0: a default port */
	unsigned long top_line[TOP_ROWS_MAX];  /* line of each top-level row's value; 0: default */
};

/* ---- YAML helpers (config_set.c) ---- */

int cfg_fail(struct ctx *c, unsigned long line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
unsigned long cfg_line(const yaml_node_t *n);
const char *cfg_show(const char *p, size_t len, char *buf, size_t buflen);
const char *cfg_kind(const yaml_node_t *n);
bool cfg_is_null(const yaml_node_t *n);
bool cfg_make_key(const char *prefix, const yaml_node_t *k, char *buf, size_t buflen);
const yaml_node_t *cfg_earlier_key(struct ctx *c, const yaml_node_t *map,
				   const yaml_node_pair_t *upto, const yaml_node_t *k);

static inline const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static inline size_t slen(const yaml_node_t *n)
{
	return n->data.scalar.length;
}

/* ---- rows (config_set.c) ---- */

/* Store value v of row o (reported as `key`) into the table's base struct. */
int cfg_set(struct ctx *c, const struct pl_option *o, const yaml_node_t *v, const char *key,
	    void *base);
/* Walk a mapping with a sub-table (a list item's or a sub-section's): keys relative to
 * the table, `prefix` the dotted place for messages. */
int cfg_walk_table(struct ctx *c, const struct pl_opt_table *t, const yaml_node_t *map,
		   const char *prefix, void *base);
/* The top-level walk (config.c): a mapping whose keys extend `prefix`. */
int cfg_walk_mapping(struct ctx *c, const yaml_node_t *map, const char *prefix);

/* Apply every row's default to base (strings copied). 0, or -1 on ENOMEM. */
int cfg_table_defaults(const struct pl_opt_table *t, void *base);
/* Free what the rows' fields own in base (not base itself). */
void cfg_table_free(const struct pl_opt_table *t, void *base);

/* STRING values checked at load (config.c): a BPF filter that compiles, a user that
 * exists, an address that parses. */
int cfg_check_string(struct ctx *c, enum pl_opt_check kind, const char *str,
		     const yaml_node_t *v, const char *key);

/* The registry row whose port list lives at `off` in struct pl_config. */
size_t cfg_proto_slot(size_t off);

/* ---- tables ---- */

extern const struct pl_opt_table pl_tail_input_options;   /* config_tail.c */

#endif
