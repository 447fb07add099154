/*
 * One fixed array of slots, found by a 64-bit key through a hash index and
 * kept in least-recently-used order: the reconstruction's socket table (keyed
 * by socket cookie) and thread table (keyed by thread id) are both this.
 *
 * The caller owns the array and embeds a struct mc_index_node in each entry
 * (at node_off); the list keeps only indexes, so an entry is referenced by
 * its slot number and memory is bounded by the array whatever the load.
 * Slots fill in order; once all are used, taking one evicts the least
 * recently used.
 */
#ifndef MESHCUT_AGENT_MONITOR_INDEX_LIST_H
#define MESHCUT_AGENT_MONITOR_INDEX_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_INDEX_NIL 0xffffffffu

struct mc_index_node {
	uint32_t prev, next; /* LRU order (head: most recent) */
	uint32_t hnext;      /* the next slot in the same hash bucket */
};

struct mc_index_list {
	char *base;          /* the caller's array */
	size_t stride, node_off;
	uint64_t (*key)(const void *entry);
	uint32_t *hash, mask; /* buckets: first slot, MC_INDEX_NIL: empty */
	uint32_t cap, used;
	uint32_t head, tail;
};

/* the hash both tables (and the reconstruction's pair keys) spread keys with */
static inline uint64_t mc_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* the smallest power of two >= n */
uint32_t mc_pow2_at_least(uint32_t n);

/* an index over base[0..cap) (hash: 2 * cap buckets, rounded up); -1: no memory */
int mc_index_list_init(struct mc_index_list *l, void *base, size_t stride, size_t node_off,
		       uint32_t cap, uint64_t (*key)(const void *entry));
void mc_index_list_free(struct mc_index_list *l);
/* bytes the hash index takes (the bound) */
size_t mc_index_list_memory(const struct mc_index_list *l);

/* the slot holding key, made the most recent; MC_INDEX_NIL: none */
uint32_t mc_index_list_find(struct mc_index_list *l, uint64_t key);

/* a slot for a new entry: the next unused one, else the least recently used,
 * taken out of the index (*evicted set; the caller clears what the entry
 * held, its node excepted). mc_index_list_insert then links it. */
uint32_t mc_index_list_take(struct mc_index_list *l, bool *evicted);
/* link slot (its entry now holding key) as the most recent */
void mc_index_list_insert(struct mc_index_list *l, uint32_t slot, uint64_t key);

#endif
