/* stream_data: deterministic, seekable byte streams (see stream_data.h). */
#include "stream_data.h"

#include <endian.h>
#include <string.h>

#define GOLDEN 0x9e3779b97f4a7c15ULL

static inline uint64_t splitmix64(uint64_t x)
{
	x += GOLDEN;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t stream_word(uint64_t seed, uint64_t word)
{
	return splitmix64(seed ^ (word * GOLDEN));
}

uint8_t stream_byte(uint64_t seed, uint64_t offset)
{
	return (uint8_t)(stream_word(seed, offset / 8) >> (8 * (offset % 8)));
}

/* The word in memory order, so that memcpy gives little-endian bytes on any host. */
static inline uint64_t word_le(uint64_t seed, uint64_t word)
{
	return htole64(stream_word(seed, word));
}

void stream_fill(uint64_t seed, uint64_t offset, void *buf, size_t len)
{
	unsigned char *p = buf;
	uint64_t w = offset / 8;
	size_t skip = offset % 8;

	if (len == 0)
		return;
	if (skip) { /* leading partial word */
		uint64_t v = word_le(seed, w++);
		size_t n = 8 - skip < len ? 8 - skip : len;
		memcpy(p, (unsigned char *)&v + skip, n);
		p += n;
		len -= n;
	}
	/* Four independent words per round keep the multipliers busy; memcpy
	 * compiles to plain (unaligned) stores. */
	for (; len >= 32; len -= 32, p += 32, w += 4) {
		uint64_t v[4] = { word_le(seed, w), word_le(seed, w + 1),
				  word_le(seed, w + 2), word_le(seed, w + 3) };
		memcpy(p, v, 32);
	}
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v = word_le(seed, w++);
		memcpy(p, &v, 8);
	}
	if (len) {
		uint64_t v = word_le(seed, w);
		memcpy(p, &v, len);
	}
}

/* Offset of the first differing byte of two little-endian words that differ. */
static inline int64_t first_diff(uint64_t word, uint64_t got_le, uint64_t want)
{
	uint64_t x = le64toh(got_le) ^ want;
	return (int64_t)(word * 8 + (uint64_t)__builtin_ctzll(x) / 8);
}

int64_t stream_verify(uint64_t seed, uint64_t offset, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t w = offset / 8;
	size_t skip = offset % 8;

	if (len == 0)
		return -1;
	if (skip) { /* leading partial word: compare byte by byte */
		uint64_t v = word_le(seed, w);
		size_t n = 8 - skip < len ? 8 - skip : len;
		for (size_t i = 0; i < n; i++)
			if (p[i] != ((unsigned char *)&v)[skip + i])
				return (int64_t)(offset + i);
		p += n;
		len -= n;
		w++;
	}
	/* Fast path: OR the differences of four words, look closer only on a hit. */
	for (; len >= 32; len -= 32, p += 32, w += 4) {
		uint64_t g[4];
		memcpy(g, p, 32);
		uint64_t d = (g[0] ^ word_le(seed, w)) | (g[1] ^ word_le(seed, w + 1)) |
			     (g[2] ^ word_le(seed, w + 2)) | (g[3] ^ word_le(seed, w + 3));
		if (d)
			for (int i = 0; i < 4; i++)
				if (g[i] != word_le(seed, w + i))
					return first_diff(w + i, g[i], stream_word(seed, w + i));
	}
	for (; len >= 8; len -= 8, p += 8, w++) {
		uint64_t g;
		memcpy(&g, p, 8);
		if (g != word_le(seed, w))
			return first_diff(w, g, stream_word(seed, w));
	}
	if (len) {
		uint64_t v = word_le(seed, w);
		for (size_t i = 0; i < len; i++)
			if (p[i] != ((unsigned char *)&v)[i])
				return (int64_t)(w * 8 + i);
	}
	return -1;
}

void size_rng_init(struct size_rng *r, uint64_t seed)
{
	/* splitmix spreads small seeds (1, 2, 3 ...) over the state space and
	 * xorshift must never start at 0. */
	r->state = splitmix64(seed);
	if (r->state == 0)
		r->state = GOLDEN;
}

uint64_t size_rng_next(struct size_rng *r)
{
	uint64_t x = r->state; /* xorshift64* */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

uint64_t size_rng_range(struct size_rng *r, uint64_t min, uint64_t max)
{
	uint64_t span = max - min + 1;
	if (span == 0) /* the full 64-bit range */
		return size_rng_next(r);
	/* Modulo bias is at most span / 2^64: irrelevant for message sizes. */
	return min + size_rng_next(r) % span;
}
