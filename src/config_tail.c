/* config_tail.c – the options of one tail input (an item of tail.inputs, or one --tail
 * PATTERN): its rows and defaults, its multiline section, and the checks of a whole input.
 * Walked by the same mechanism as every other options table (config_set.c). */
#include <string.h>
#include "config_int.h"

#define IN struct pl_tail_input

static const char *const position_names[] = { "beginning", "end" };
static const char *const long_line_names[] = { "split", "truncate" };
static const char *const format_names[] = { "raw", "docker", "cri", "auto" }; /* PL_TAIL_FORMAT_* */

static const struct pl_opt_choices position = { position_names, 2, "beginning or end", "beginning" };
static const struct pl_opt_choices long_lines = { long_line_names, 2, "split or truncate", "split" };
static const struct pl_opt_choices formats = { format_names, 4, "raw, docker, cri or auto", NULL };

static const struct pl_option multiline_rows[] = {
	PL_OPT_REGEX_ROW("start_pattern", IN, ml_pattern),
	PL_OPT_BOOL_ROW("indent_continues", IN, ml_indent, false),
	PL_OPT_U32_ROW("max_lines", IN, ml_max_lines, 1, 1000000, 500),
	PL_OPT_DURATION_ROW("timeout", IN, ml_timeout_ns, 5 * PL_NS_PER_SEC),
};

static const struct pl_opt_table multiline = {
	multiline_rows, PL_ARRAY_LEN(multiline_rows),
	"start_pattern, indent_continues, max_lines or timeout", NULL, NULL,
};

static const struct pl_option input_rows[] = {
	PL_OPT_LIST_ROW("paths", PL_OPT_TEXT_LIST, IN, paths, n_paths, PL_TAIL_MAX_PATHS),
	PL_OPT_LIST_ROW("exclude", PL_OPT_TEXT_LIST, IN, excludes, n_excludes, PL_TAIL_MAX_PATHS),
	PL_OPT_TEXT_ROW("topic", IN, topic),
	PL_OPT_MAP_ROW("fields", PL_OPT_FIELDS, IN, field_keys, field_values, n_fields,
		       PL_TAIL_MAX_FIELDS),
	PL_OPT_ENUM_ROW("start_position", IN, start_at_end, &position, 0),
	PL_OPT_U32_ROW("max_line_bytes", IN, max_line_bytes, 64, 67108864, 1048576),
	PL_OPT_ENUM_ROW("long_lines", IN, truncate_long_lines, &long_lines, 0),
	PL_OPT_SUBSECTION_ROW("multiline", &multiline),
	PL_OPT_ENUM_ROW("format", IN, format, &formats, PL_TAIL_FORMAT_RAW),
};

static const char *check_input(const void *base)
{
	const IN *in = base;

	if (in->n_paths == 0)
		return "an input needs paths";
	if (in->ml_pattern && in->ml_indent)
		return "multiline: give start_pattern or indent_continues, not both";
	return NULL;
}

const struct pl_opt_table pl_tail_input_options = {
	input_rows, PL_ARRAY_LEN(input_rows),
	"paths, exclude, topic, fields, start_position, max_line_bytes, long_lines, multiline or format",
	"each input must be a mapping (paths: ...)",
	check_input,
};

int pl_config_tail_add(struct pl_config *cfg, const char *pattern)
{
	struct pl_tail_input *in;

	if (cfg->tail.n_inputs >= PL_TAIL_MAX_INPUTS)
		return -1;
	in = &cfg->tail.inputs[cfg->tail.n_inputs];
	memset(in, 0, sizeof(*in));
	if (cfg_table_defaults(&pl_tail_input_options, in) < 0)
		return -1;
	in->paths[0] = strdup(pattern);
	if (!in->paths[0])
		return -1;
	in->n_paths = 1;
	cfg->tail.n_inputs++;
	return 0;
}
