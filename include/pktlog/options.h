/* options.h – the rows of pktlog's options tables: what each option of conf/pktlog.yml is,
 * where it is stored, its bounds and its default.
 *
 * One mechanism (src/config.c walks it) serves the top level (config.c's table), each
 * protocol (its table hangs off its registry row, pktlog/registry.h, under
 * protocols.NAME) and each tail input (config_tail.c's table, one per tail.inputs item).
 * A table's rows store into one struct, the table's base: struct pl_config for the top
 * level and the protocols, struct pl_tail_input for tail inputs.
 *
 * Rows are typed: the PL_OPT_* macros below take the base struct and the field, and refuse
 * at compile time a field whose C type is not the row's (a u32 row on a uint64_t field
 * does not build). The setters then write exactly that type at that offset. Defaults live
 * in the rows: pl_config_defaults() applies every table's defaults and nothing else. */
#ifndef PKTLOG_OPTIONS_H
#define PKTLOG_OPTIONS_H

#include <stddef.h>
#include "pktlog/common.h"

enum pl_opt_type {
	PL_OPT_SECTION,      /* a mapping of further options (sub: its own table, else same keys) */
	PL_OPT_STRING,       /* char *; PL_OPT_NULLABLE lets ""/null mean NULL; check: see below */
	PL_OPT_TEXT,         /* char *, non-empty text (no null) */
	PL_OPT_REGEX,        /* char *, non-empty POSIX ERE that compiles */
	PL_OPT_U32,          /* uint32_t within [min, max] */
	PL_OPT_U64,          /* uint64_t within [min, max] */
	PL_OPT_BOOL,         /* bool */
	PL_OPT_DURATION,     /* uint64_t nanoseconds, > 0 */
	PL_OPT_PORTS,        /* struct pl_port_list; default: the registry row's default ports */
	PL_OPT_ENUM,         /* one word of choices, stored as its index (int, or bool for two) */
	PL_OPT_HEADERS,      /* char *[max] + int count: header names, lower-cased */
	PL_OPT_TEXT_LIST,    /* char *[max] + int count: one text or a list of them */
	PL_OPT_FIELDS,       /* char *[max] keys at off, values at off2, int count: a text map */
	PL_OPT_PROPS,        /* the same plus each entry's line at line_off, for
			      * output.kafka.properties (names checked by the Kafka output) */
	PL_OPT_TABLE_LIST,   /* an array of structs at off + int count: a list of mappings, each
			      * walked with `sub` (tail.inputs) */
};

#define PL_OPT_NULLABLE 1u

/* PL_OPT_STRING values checked at load: a filter that compiles, a user that exists, an
 * address that parses. */
enum pl_opt_check { PL_CHECK_NONE = 0, PL_CHECK_BPF, PL_CHECK_USER, PL_CHECK_LISTEN };

/* The words of a PL_OPT_ENUM, in value order. */
struct pl_opt_choices {
	const char *const *names;
	size_t n;
	const char *what;          /* "expected WHAT, found …" */
	const char *scalar_what;   /* "expected SCALAR_WHAT, found a list" (NULL: what) */
};

struct pl_opt_table;

struct pl_option {
	const char *key;           /* dotted, relative to the table's place */
	enum pl_opt_type type;
	size_t off;                /* field in the table's base struct */
	size_t off2;               /* FIELDS/PROPS: the values array */
	size_t count_off;          /* list types: the int count */
	size_t size;               /* ENUM: sizeof the field; TABLE_LIST: sizeof one item */
	size_t line_off;           /* PROPS: unsigned long line of each entry */
	uint64_t min, max;         /* U32/U64: bounds; list types: most entries */
	uint64_t def;              /* default of BOOL/U32/U64/DURATION/ENUM */
	const char *def_str;       /* default of STRING (NULL: none) */
	unsigned flags;            /* PL_OPT_NULLABLE */
	enum pl_opt_check check;   /* STRING */
	const struct pl_opt_choices *choices;  /* ENUM */
	const struct pl_opt_table *sub;        /* SECTION (optional), TABLE_LIST */
};

struct pl_opt_table {
	const struct pl_option *rows;
	size_t n;
	/* NULL for the top level (unknown keys get a "did you mean"). Set for tables of a list
	 * item or a sub-section: unknown keys are answered "unknown option (expected
	 * EXPECTED)", duplicates plainly. */
	const char *expected;
	/* A list item that is not a mapping: "ITEM_WHAT, found …" */
	const char *item_what;
	/* After an item's mapping: NULL, or what is wrong with it. */
	const char *(*check)(const void *base);
};

/* Compile-time check that S.f has type T (0 when it does; does not build otherwise). */
#define PL_OPT_IS(S, f, T) (0 * sizeof(char[_Generic(((S *)0)->f, T: 1, default: -1)]))
#define PL_OPT_OFF(S, f, T) (offsetof(S, f) + PL_OPT_IS(S, f, T))

#define PL_OPT_SECTION_ROW(k) { .key = (k), .type = PL_OPT_SECTION }
#define PL_OPT_SUBSECTION_ROW(k, table) { .key = (k), .type = PL_OPT_SECTION, .sub = (table) }
#define PL_OPT_BOOL_ROW(k, S, f, d) \
	{ .key = (k), .type = PL_OPT_BOOL, .off = PL_OPT_OFF(S, f, bool), .def = (d) }
#define PL_OPT_U32_ROW(k, S, f, lo, hi, d) \
	{ .key = (k), .type = PL_OPT_U32, .off = PL_OPT_OFF(S, f, uint32_t), .min = (lo), .max = (hi), \
	  .def = (d) }
#define PL_OPT_U64_ROW(k, S, f, lo, hi, d) \
	{ .key = (k), .type = PL_OPT_U64, .off = PL_OPT_OFF(S, f, uint64_t), .min = (lo), .max = (hi), \
	  .def = (d) }
#define PL_OPT_DURATION_ROW(k, S, f, d) \
	{ .key = (k), .type = PL_OPT_DURATION, .off = PL_OPT_OFF(S, f, uint64_t), .def = (d) }
#define PL_OPT_STRING_ROW(k, S, f, d, fl, chk) \
	{ .key = (k), .type = PL_OPT_STRING, .off = PL_OPT_OFF(S, f, char *), .def_str = (d), \
	  .flags = (fl), .check = (chk) }
#define PL_OPT_TEXT_ROW(k, S, f) { .key = (k), .type = PL_OPT_TEXT, .off = PL_OPT_OFF(S, f, char *) }
#define PL_OPT_REGEX_ROW(k, S, f) { .key = (k), .type = PL_OPT_REGEX, .off = PL_OPT_OFF(S, f, char *) }
#define PL_OPT_PORTS_ROW(k, S, f) \
	{ .key = (k), .type = PL_OPT_PORTS, .off = PL_OPT_OFF(S, f, struct pl_port_list) }
/* An enum field (int-sized) or a bool one (two choices). */
#define PL_OPT_ENUM_ROW(k, S, f, ch, d) \
	{ .key = (k), .type = PL_OPT_ENUM, .off = offsetof(S, f), .size = sizeof(((S *)0)->f), \
	  .choices = (ch), .def = (d) }
#define PL_OPT_LIST_ROW(k, type_, S, f, n, hi) \
	{ .key = (k), .type = (type_), .off = PL_OPT_OFF(S, f[0], char *), \
	  .count_off = PL_OPT_OFF(S, n, int), .max = (hi) }
#define PL_OPT_MAP_ROW(k, type_, S, keys, vals, n, hi) \
	{ .key = (k), .type = (type_), .off = PL_OPT_OFF(S, keys[0], char *), \
	  .off2 = PL_OPT_OFF(S, vals[0], char *), .count_off = PL_OPT_OFF(S, n, int), .max = (hi) }
#define PL_OPT_TABLE_LIST_ROW(k, S, f, n, hi, table) \
	{ .key = (k), .type = PL_OPT_TABLE_LIST, .off = offsetof(S, f), .size = sizeof(((S *)0)->f[0]), \
	  .count_off = PL_OPT_OFF(S, n, int), .max = (hi), .sub = (table) }

#endif
