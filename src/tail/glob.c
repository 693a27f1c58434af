/* glob.c – path patterns for tail inputs: fnmatch per component plus "**" for any depth.
 * Pure string functions: must not touch the file system. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include "pktlog/tail.h"

/* Bounds recursion on patterns with many "**": deeper paths are not worth tailing. */
#define GLOB_MAX_DEPTH 64

static size_t comp_len(const char *s)
{
	const char *slash = strchr(s, '/');

	return slash ? (size_t)(slash - s) : strlen(s);
}

static const char *next_comp(const char *s, size_t len)
{
	s += len;
	while (*s == '/')
		s++;
	return s;
}

static bool comp_match(const char *pat, size_t plen, const char *name, size_t nlen)
{
	char p[256], n[256];

	if (plen >= sizeof(p) || nlen >= sizeof(n))
		return false;
	memcpy(p, pat, plen);
	p[plen] = '\0';
	memcpy(n, name, nlen);
	n[nlen] = '\0';
	return fnmatch(p, n, FNM_PERIOD) == 0;
}

/* prefix_ok: the path may end before the pattern does (directory pre-check). */
static bool match_from(const char *pat, const char *path, bool prefix_ok, int depth)
{
	size_t plen, nlen;

	if (depth > GLOB_MAX_DEPTH)
		return false;
	if (!*pat)
		return !*path;
	if (!*path)
		return prefix_ok;
	plen = comp_len(pat);
	nlen = comp_len(path);
	if (plen == 2 && pat[0] == '*' && pat[1] == '*') {
		/* "**" eats zero components, or one and stays. */
		if (match_from(next_comp(pat, plen), path, prefix_ok, depth + 1))
			return true;
		if (path[0] == '.') /* hidden directories are not entered, as with '*' */
			return false;
		return match_from(pat, next_comp(path, nlen), prefix_ok, depth + 1);
	}
	if (!comp_match(pat, plen, path, nlen))
		return false;
	return match_from(next_comp(pat, plen), next_comp(path, nlen), prefix_ok, depth + 1);
}

static const char *skip_root(const char *s)
{
	while (*s == '/')
		s++;
	return s;
}

bool pl_tail_glob_match(const char *pattern, const char *path)
{
	if ((*pattern == '/') != (*path == '/'))
		return false;
	return match_from(skip_root(pattern), skip_root(path), false, 0);
}

bool pl_tail_glob_dir_may_match(const char *pattern, const char *dir)
{
	if ((*pattern == '/') != (*dir == '/'))
		return false;
	dir = skip_root(dir);
	if (!*dir)
		return true;
	return match_from(skip_root(pattern), dir, true, 0);
}

void pl_tail_glob_base(const char *pattern, char *out, size_t cap)
{
	size_t last_slash = 0, i;
	bool found = false;

	for (i = 0; pattern[i]; i++) {
		if (strchr("*?[\\", pattern[i]))
			break;
		if (pattern[i] == '/') {
			last_slash = i;
			found = true;
		}
	}
	if (!found) {
		snprintf(out, cap, ".");
		return;
	}
	if (last_slash == 0) {
		snprintf(out, cap, "/");
		return;
	}
	snprintf(out, cap, "%.*s", (int)last_slash, pattern);
}
