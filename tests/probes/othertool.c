/*
 * othertool: loads other_sockmap.bpf.c (a foreign sockmap user), attaches its
 * sockops to a cgroup (multi-attach link) and its sk_msg to its map, runs for
 * a while, prints what it saw as JSON, and detaches only what it attached.
 *   othertool --cgroup DIR --seconds N
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "other_sockmap.skel.h"

int main(int argc, char **argv)
{
	struct other_sockmap *skel;
	struct bpf_link *link;
	const char *cg = NULL;
	__u64 v[4] = {0};
	int seconds = 5, fd, i;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--cgroup"))
			cg = argv[i + 1];
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
	}
	if (!cg) {
		fprintf(stderr, "usage: othertool --cgroup DIR --seconds N\n");
		return 2;
	}
	fd = open(cg, O_RDONLY | O_DIRECTORY);
	skel = other_sockmap__open_and_load();
	if (fd < 0 || !skel) {
		fprintf(stderr, "othertool: cannot open %s or load the BPF object\n", cg);
		return 1;
	}
	if (bpf_prog_attach(bpf_program__fd(skel->progs.other_msg),
			    bpf_map__fd(skel->maps.other_socks), BPF_SK_MSG_VERDICT, 0)) {
		perror("othertool: attach sk_msg");
		return 1;
	}
	link = bpf_program__attach_cgroup(skel->progs.other_sockops, fd);
	if (!link) {
		perror("othertool: attach sockops");
		return 1;
	}
	printf("{\"attached\":true}\n");
	fflush(stdout);
	sleep((unsigned)seconds);
	for (__u32 k = 0; k < 4; k++)
		bpf_map_lookup_elem(bpf_map__fd(skel->maps.other_stats), &k, &v[k]);
	printf("{\"inserted\":%llu,\"ebusy\":%llu,\"errors\":%llu,\"msgs\":%llu}\n",
	       (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
	       (unsigned long long)v[3]);
	bpf_link__destroy(link);
	other_sockmap__destroy(skel);
	close(fd);
	return 0;
}
