/* swar.h – eight bytes at a time in a uint64_t ("SIMD within a register"), for the HTTP
 * head scanner (src/proto/http_fast.c) and the JSON escaper (src/event/json.c). */
#ifndef PKTLOG_SWAR_H
#define PKTLOG_SWAR_H

#include <stdint.h>

#define PL_ONES 0x0101010101010101ULL   /* a one in every byte */
#define PL_HIGH 0x8080808080808080ULL   /* the high bit of every byte */

/* 'A'..'Z' lower-cased in each byte of v; every other byte (>= 0x80 too) as it is. */
static inline uint64_t pl_lower64(uint64_t v)
{
	uint64_t h = v & ~PL_HIGH;

	/* high bit of each byte: 'A' <= byte <= 'Z' (and the byte is ASCII) */
	return v | ((h + PL_ONES * (0x80 - 'A')) & ~(h + PL_ONES * (0x80 - 'Z' - 1)) & ~v &
		    PL_HIGH) >> 2;
}

/* One byte the same way. */
static inline uint8_t pl_lower8(uint8_t c)
{
	return (uint8_t)(c | (((uint8_t)(c - 'A') < 26) << 5));
}

#endif
