/* fuzz_json.c – libFuzzer harness: the renderer's string escaping (word-at-a-time, with
 * overlapping tails and a piecewise path for tight buffers) must equal a plain byte-by-byte
 * reference written here, for any bytes and any output capacity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pktlog/event.h"

/* The reference: one byte at a time, straight from RFC 8259 and the UTF-8 rules. */
static size_t ref_escape(const uint8_t *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; i < n;) {
		uint8_t c = p[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			out[o++] = '\\';
			out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			i++;
		} else if (c < 0x20) {
			o += (size_t)sprintf(out + o, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
			i++;
		} else if (c < 0x80) {
			out[o++] = (char)c;
			i++;
		} else {
			size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 :
				     c >= 0xf0 && c <= 0xf4 ? 4 : 0;
			uint32_t cp = len == 2 ? c & 0x1fu : len == 3 ? c & 0x0fu : c & 0x07u;
			bool ok = len && i + len <= n;

			for (size_t k = 1; ok && k < len; k++) {
				ok = (p[i + k] & 0xc0) == 0x80;
				cp = cp << 6 | (p[i + k] & 0x3fu);
			}
			if (ok && ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
				   cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
				ok = false;
			if (ok) {
				memcpy(out + o, p + i, len);
				o += len;
				i += len;
			} else {
				memcpy(out + o, "\\ufffd", 6);
				o += 6;
				i++;
			}
		}
	}
	out[o++] = '"';
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static char ref[6 * 70000 + 2], got[6 * 70000 + 2];
	size_t want, cap;

	if (n < 2 || n > 65536)
		return 0;
	/* the first two bytes choose the capacity: often exactly enough, or just short */
	want = ref_escape(d + 2, n - 2, ref);
	cap = d[0] & 1 ? want - (d[1] & 7) : want + d[1];
	if (cap > sizeof(got))
		cap = sizeof(got);
	size_t len = pl_json_string((const char *)d + 2, n - 2, got, cap);
	if (cap >= want ? len != want || memcmp(ref, got, want) : len != 0) {
		fprintf(stderr, "fuzz_json: %zu bytes, capacity %zu: got %zu, want %zu\n",
			n - 2, cap, len, want);
		abort();
	}
	return 0;
}
