/* stream_data: the deterministic byte streams the test services send and check.
 *
 * Byte i of stream `seed` is byte (i % 8), little endian, of
 * splitmix64(seed ^ (i / 8) * GOLDEN). No state is carried from one byte to the
 * next, so any side (client, server, a later re-check) can produce or verify any
 * offset on its own: a proxy that drops, duplicates or reorders bytes shows up
 * as a mismatch at an exact offset.
 *
 * The size PRNG (xorshift64*) is separate so that message boundaries can vary
 * independently of the content: the same bytes must arrive however they were cut.
 */
#ifndef MESHCUT_TESTS_STREAM_DATA_H
#define MESHCUT_TESTS_STREAM_DATA_H

#include <stddef.h>
#include <stdint.h>

/* The 8 bytes at offsets 8*word .. 8*word+7 of stream `seed`, as a number. */
uint64_t stream_word(uint64_t seed, uint64_t word);

/* The byte at `offset` of stream `seed`. */
uint8_t stream_byte(uint64_t seed, uint64_t offset);

/* Write bytes [offset, offset+len) of stream `seed` to buf. */
void stream_fill(uint64_t seed, uint64_t offset, void *buf, size_t len);

/* Check buf against bytes [offset, offset+len) of stream `seed`. Returns the
 * stream offset (not the buffer index) of the first differing byte, or -1. */
int64_t stream_verify(uint64_t seed, uint64_t offset, const void *buf, size_t len);

/* Message-size generator. Seeded separately from the content. */
struct size_rng {
	uint64_t state;
};

void size_rng_init(struct size_rng *r, uint64_t seed);
uint64_t size_rng_next(struct size_rng *r);
/* Uniform in [min, max] (min <= max). */
uint64_t size_rng_range(struct size_rng *r, uint64_t min, uint64_t max);

#endif
