/* A fixed array of slots with a hash index and LRU order (index_list.h). */
#include "monitor/index_list.h"

#include <stdlib.h>
#include <string.h>

static struct mc_index_node *node(const struct mc_index_list *l, uint32_t i)
{
	return (struct mc_index_node *)(l->base + (size_t)i * l->stride + l->node_off);
}

static uint32_t bucket(const struct mc_index_list *l, uint64_t key)
{
	return (uint32_t)mc_mix64(key) & l->mask;
}

uint32_t mc_pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

int mc_index_list_init(struct mc_index_list *l, void *base, size_t stride, size_t node_off,
		       uint32_t cap, uint64_t (*key)(const void *entry))
{
	memset(l, 0, sizeof(*l));
	l->base = base;
	l->stride = stride;
	l->node_off = node_off;
	l->key = key;
	l->cap = cap;
	l->mask = mc_pow2_at_least(2 * cap) - 1;
	l->head = l->tail = MC_INDEX_NIL;
	l->hash = malloc(((size_t)l->mask + 1) * sizeof(uint32_t));
	if (!l->hash)
		return -1;
	memset(l->hash, 0xff, ((size_t)l->mask + 1) * sizeof(uint32_t));
	return 0;
}

void mc_index_list_free(struct mc_index_list *l)
{
	free(l->hash);
	l->hash = NULL;
}

size_t mc_index_list_memory(const struct mc_index_list *l)
{
	return ((size_t)l->mask + 1) * sizeof(uint32_t);
}

static void lru_unlink(struct mc_index_list *l, uint32_t i)
{
	struct mc_index_node *n = node(l, i);

	if (n->prev != MC_INDEX_NIL)
		node(l, n->prev)->next = n->next;
	else
		l->head = n->next;
	if (n->next != MC_INDEX_NIL)
		node(l, n->next)->prev = n->prev;
	else
		l->tail = n->prev;
}

static void lru_front(struct mc_index_list *l, uint32_t i)
{
	struct mc_index_node *n = node(l, i);

	n->prev = MC_INDEX_NIL;
	n->next = l->head;
	if (l->head != MC_INDEX_NIL)
		node(l, l->head)->prev = i;
	l->head = i;
	if (l->tail == MC_INDEX_NIL)
		l->tail = i;
}

uint32_t mc_index_list_find(struct mc_index_list *l, uint64_t key)
{
	uint32_t i;

	for (i = l->hash[bucket(l, key)]; i != MC_INDEX_NIL; i = node(l, i)->hnext) {
		if (l->key(l->base + (size_t)i * l->stride) == key) {
			if (l->head != i) {
				lru_unlink(l, i);
				lru_front(l, i);
			}
			return i;
		}
	}
	return MC_INDEX_NIL;
}

uint32_t mc_index_list_take(struct mc_index_list *l, bool *evicted)
{
	uint32_t i, *p;

	*evicted = false;
	if (l->used < l->cap)
		return l->used++;
	i = l->tail;
	for (p = &l->hash[bucket(l, l->key(l->base + (size_t)i * l->stride))]; *p != MC_INDEX_NIL;
	     p = &node(l, *p)->hnext) {
		if (*p == i) {
			*p = node(l, i)->hnext;
			break;
		}
	}
	lru_unlink(l, i);
	*evicted = true;
	return i;
}

void mc_index_list_insert(struct mc_index_list *l, uint32_t slot, uint64_t key)
{
	uint32_t h = bucket(l, key);

	node(l, slot)->hnext = l->hash[h];
	l->hash[h] = slot;
	lru_front(l, slot);
}
