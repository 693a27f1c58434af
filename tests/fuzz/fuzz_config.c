/* fuzz_config.c – libFuzzer harness: pl_config_load_buffer on arbitrary bytes, then free.
 * Catches out-of-bounds reads, leaks and unterminated error messages in src/config.c. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pktlog/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl_config cfg = { 0 };
	char err[256];

	pl_config_load_buffer("fuzz.yml", (const char *)data, size, &cfg, err, sizeof(err));
	/* The message must be NUL-terminated inside the buffer whatever happened. */
	if (memchr(err, '\0', sizeof(err)) == NULL)
		__builtin_trap();
	pl_config_free(&cfg);
	return 0;
}
