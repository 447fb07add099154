/*
 * dropwatch: counts the kernel's drops (tp_btf/kfree_skb) of IPv4 packets from
 * or to one address until SIGINT/SIGTERM, then prints them as JSON by the
 * function that dropped them (resolved with /proc/kallsyms):
 *   dropwatch --ip A.B.C.D      prints {"ready":true}, then at the end
 *   {"drops":N,"by_function":{"skb_do_redirect":n,...}}
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dropwatch.skel.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* the function containing ADDR, from /proc/kallsyms (text symbols) */
static void symbolize(unsigned long long addr, char *out, size_t len)
{
	unsigned long long a, best = 0;
	char type, name[256], line[512];
	FILE *f = fopen("/proc/kallsyms", "r");

	snprintf(out, len, "0x%llx", addr);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &a, &type, name) != 3)
			continue;
		if ((type == 't' || type == 'T') && a <= addr && a > best) {
			best = a;
			snprintf(out, len, "%s", name);
		}
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	struct dropwatch *skel;
	struct in_addr ip;
	__u64 key, *prev = NULL, next, n, total = 0;
	char sym[256];
	int first = 1;

	if (argc != 3 || strcmp(argv[1], "--ip") || inet_pton(AF_INET, argv[2], &ip) != 1) {
		fprintf(stderr, "usage: dropwatch --ip A.B.C.D\n");
		return 2;
	}
	skel = dropwatch__open();
	if (!skel)
		return 1;
	skel->rodata->watch_ip = ip.s_addr;
	if (dropwatch__load(skel) || dropwatch__attach(skel)) {
		fprintf(stderr, "dropwatch: cannot load or attach tp_btf/kfree_skb\n");
		dropwatch__destroy(skel);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("{\"ready\":true}\n");
	fflush(stdout);
	while (!stop)
		pause();
	printf("{\"by_function\":{");
	while (bpf_map_get_next_key(bpf_map__fd(skel->maps.drops), prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.drops), &key, &n))
			continue;
		symbolize((unsigned long long)key, sym, sizeof(sym));
		printf("%s\"%s\":%llu", first ? "" : ",", sym, (unsigned long long)n);
		first = 0;
		total += n;
	}
	printf("},\"drops\":%llu}\n", (unsigned long long)total);
	dropwatch__destroy(skel);
	return 0;
}
