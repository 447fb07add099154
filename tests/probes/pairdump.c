/*
 * pairdump: what the pair table (a pinned mc_pairs map) holds, for tests.
 *
 *   pairdump PINNED_MC_PAIRS
 *
 * Prints one JSON object: slots in use, pairs still in the shortcut, and the
 * pairs in a state the datapath must never leave behind: "half_redirected",
 * both ends held (refs 2), not deleted by the agent, one direction on TCP and
 * the other not (a direction only moves towards TCP, and a pair leaves the
 * shortcut as a whole). Up to 8 such slots are listed with their fields.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sock_shortcut.h"

static void show(const struct mc_pair *p, uint32_t slot, const char *why, int *listed)
{
	if ((*listed)++ >= 8)
		return;
	printf("%s{\"slot\":%u,\"why\":\"%s\",\"kind\":%u,\"refs\":%u,\"flags\":%u,"
	       "\"dir\":[%u,%u],\"sent\":[%llu,%llu],\"consumed\":[%llu,%llu]}",
	       *listed > 1 ? "," : "", slot, why, p->id.kind, p->refs, p->flags, p->dir[0],
	       p->dir[1], (unsigned long long)p->sent[0], (unsigned long long)p->sent[1],
	       (unsigned long long)p->consumed[0], (unsigned long long)p->consumed[1]);
}

int main(int argc, char **argv)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), i, used = 0, live = 0, half = 0;
	long page = sysconf(_SC_PAGESIZE);
	const struct mc_pair *pairs;
	size_t maplen;
	int fd, listed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: pairdump PINNED_MC_PAIRS\n");
		return 2;
	}
	fd = bpf_obj_get(argv[1]);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "pairdump: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	if (info.value_size != sizeof(struct mc_pair)) {
		fprintf(stderr, "pairdump: %s holds %u-byte values, this build knows %zu\n", argv[1],
			info.value_size, sizeof(struct mc_pair));
		return 2;
	}
	maplen = ((size_t)info.max_entries * sizeof(struct mc_pair) + (size_t)page - 1) &
		 ~((size_t)page - 1);
	pairs = mmap(NULL, maplen, PROT_READ, MAP_SHARED, fd, 0);
	if (pairs == MAP_FAILED) {
		fprintf(stderr, "pairdump: mmap %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	printf("{\"bad\":[");
	for (i = 0; i < info.max_entries; i++) {
		struct mc_pair p;
		bool tcp0, tcp1;

		memcpy(&p, &pairs[i], sizeof(p));
		if (!p.refs)
			continue;
		used++;
		if (p.flags & MC_PAIR_DELETED)
			continue;
		live++;
		tcp0 = p.dir[0] == MC_DIR_TCP;
		tcp1 = p.dir[1] == MC_DIR_TCP;
		if (p.refs == 2 && tcp0 != tcp1) {
			half++;
			show(&p, i, "half_redirected", &listed);
		}
	}
	printf("],\"slots\":%u,\"used\":%u,\"live\":%u,\"half_redirected\":%u}\n",
	       info.max_entries, used, live, half);
	munmap((void *)pairs, maplen);
	close(fd);
	return 0;
}
