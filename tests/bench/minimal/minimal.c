/* minimal: load tests/bench/minimal/minimal.bpf.c on one node's cgroup for
 * the benchmark's `minimal` configuration, and keep it there until SIGTERM.
 *
 *   minimal --cgroup DIR
 *
 * Nothing is pinned: the programs, the SOCKHASH and every socket in it go
 * when this process exits (the cgroup link closes, the map is freed and its
 * sockets return to plain TCP). Prints "ready" once attached. A benchmark
 * tool only: never installed, never safe (see minimal.bpf.c).
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "minimal.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"cgroup", required_argument, 0, 'c'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *cgroup = NULL;
	struct minimal *skel;
	struct bpf_link *link;
	int c, cg_fd, err;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'c') {
			cgroup = optarg;
		} else {
			fprintf(c == 'h' ? stdout : stderr, "usage: minimal --cgroup DIR\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!cgroup || optind != argc) {
		fprintf(stderr, "usage: minimal --cgroup DIR\n");
		return 2;
	}
	cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		fprintf(stderr, "minimal: %s: %s\n", cgroup, strerror(errno));
		return 2;
	}
	skel = minimal__open_and_load();
	if (!skel) {
		fprintf(stderr, "minimal: load: %s\n", strerror(errno));
		return 1;
	}
	err = bpf_prog_attach(bpf_program__fd(skel->progs.minimal_sk_msg),
			      bpf_map__fd(skel->maps.minimal_socks), BPF_SK_MSG_VERDICT, 0);
	if (err) {
		fprintf(stderr, "minimal: attach sk_msg: %s\n", strerror(errno));
		minimal__destroy(skel);
		return 1;
	}
	link = bpf_program__attach_cgroup(skel->progs.minimal_sockops, cg_fd);
	if (!link) {
		fprintf(stderr, "minimal: attach sockops to %s: %s\n", cgroup, strerror(errno));
		minimal__destroy(skel);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		pause();
	bpf_link__destroy(link);
	minimal__destroy(skel);
	close(cg_fd);
	return 0;
}
