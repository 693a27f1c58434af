/* fuzz_spool.c – libFuzzer harness for the spool's record reader (pl_spool_parse/resync):
 * walks a segment image exactly as the drain does, skipping damage. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "pktlog/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, sum = 0;

	while (off < size) {
		struct pl_spool_rec r;
		size_t next = 0;
		int rc = pl_spool_parse(data, size, off, &r, &next);

		if (rc == PL_SPOOL_REC_OK) {
			/* Touch every byte the record claims, so ASan sees any overrun. */
			for (size_t i = 0; i < r.len; i++)
				sum += r.payload[i];
			for (size_t i = 0; i < r.klen; i++)
				sum += (uint8_t)r.key[i];
			for (size_t i = 0; i < r.tlen; i++)
				sum += (uint8_t)r.topic[i];
			if (next <= off || next > size)
				__builtin_trap();
			off = next;
			continue;
		}
		next = pl_spool_resync(data, size, off);
		if (next <= off && next != size)
			__builtin_trap();
		off = next;
	}
	return sum == 1 ? 0 : 0;
}
