/* Choosing and attaching the recv/send hooks: see rw_hooks.h. */
#include "shortcut/rw_hooks.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kernel/kernel_btf.h"

static const struct rw_hook {
	const char *prog, *link;
	enum mc_rw_hooks set;
	const char *target; /* tracepoint (tracepoints) or function (fexit) */
	int nargs;          /* fexit: the parameters the program was written for
			     * (5.15's tcp_bpf_recvmsg has a 6th, nonblock: not
			     * this program's signature, so not offered) */
	bool optional;      /* attached where the kernel has the target */
} hooks[] = {
	{"mc_recv_length", "link_recv_length", MC_RW_TRACEPOINTS, "sock_recv_length", 0, false},
	{"mc_send_length", "link_send_length", MC_RW_TRACEPOINTS, "sock_send_length", 0, false},
	{"mc_recv_fexit", "link_recv_fexit", MC_RW_FEXIT, "tcp_bpf_recvmsg", 5, false},
	{"mc_recv_parser_fexit", "link_recv_parser_fexit", MC_RW_FEXIT, "tcp_bpf_recvmsg_parser", 5, true},
	{"mc_send_fexit", "link_send_fexit", MC_RW_FEXIT, "tcp_bpf_sendmsg", 3, false},
	{"mc_sendpage_fexit", "link_sendpage_fexit", MC_RW_FEXIT, "tcp_bpf_sendpage", 5, true},
};
#define NHOOKS (sizeof(hooks) / sizeof(hooks[0]))

const char *mc_rw_hooks_name(enum mc_rw_hooks h)
{
	return h == MC_RW_TRACEPOINTS ? "tracepoints" : h == MC_RW_FEXIT ? "fexit" : "none";
}

static bool target_exists(const struct rw_hook *h)
{
	return h->set == MC_RW_TRACEPOINTS ? mc_kernel_has_tracepoint(h->target)
					   : mc_kernel_func_nargs(h->target) == h->nargs;
}

/* every required hook of the set has its target in this kernel */
static bool set_offered(enum mc_rw_hooks set, char *missing, size_t len)
{
	size_t i;

	for (i = 0; i < NHOOKS; i++)
		if (hooks[i].set == set && !hooks[i].optional && !target_exists(&hooks[i])) {
			snprintf(missing, len, "%s", hooks[i].target);
			return false;
		}
	return true;
}

enum mc_rw_hooks mc_rw_hooks_choose(struct bpf_object *obj, char *why, size_t whylen)
{
	char no_tp[64] = "", no_fexit[64] = "";
	enum mc_rw_hooks set = MC_RW_NONE;

	if (!mc_kernel_has_btf())
		snprintf(why, whylen, "the kernel has no BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)");
	else if (set_offered(MC_RW_TRACEPOINTS, no_tp, sizeof(no_tp)))
		set = MC_RW_TRACEPOINTS;
	else if (set_offered(MC_RW_FEXIT, no_fexit, sizeof(no_fexit)))
		set = MC_RW_FEXIT;
	else
		snprintf(why, whylen, "the kernel has neither the tracepoint %s nor the function %s "
				      "with the parameters meshcut's fexit program reads",
			 no_tp, no_fexit);
	mc_rw_hooks_select(obj, set);
	return set;
}

void mc_rw_hooks_select(struct bpf_object *obj, enum mc_rw_hooks set)
{
	size_t i;

	for (i = 0; i < NHOOKS; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, hooks[i].prog);

		if (p)
			bpf_program__set_autoload(p, hooks[i].set == set && target_exists(&hooks[i]));
	}
}

/* an fd of a live link that runs the program prog_fd, or -1 */
static int link_running(int prog_fd)
{
	struct bpf_prog_info pi = {};
	__u32 id = 0, len = sizeof(pi);

	if (bpf_obj_get_info_by_fd(prog_fd, &pi, &len))
		return -1;
	while (bpf_link_get_next_id(id, &id) == 0) {
		struct bpf_link_info li = {};
		int fd = bpf_link_get_fd_by_id(id);

		len = sizeof(li);
		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &li, &len) == 0 && li.prog_id == pi.id)
			return fd;
		close(fd);
	}
	return -1;
}

/* keep an adopted link running the same program; replace it otherwise
 * (tracing links cannot be updated in place). The replacement detaches first:
 * a recv missed in between only makes a backlog look larger (conservative), a
 * recv counted twice could make a drain delete too early. A send not settled
 * in between is NOT conservative: its count stays in the socket's storage and
 * the same thread's next settled send takes it off again, so that pair's
 * backlog reads low by it. Only an upgrade that changes these programs,
 * with paired sockets sending, opens this window (microseconds); a release
 * (socket_hooks.h) happens only with no socket in the shortcut. */
static int attach_one(struct bpf_program *prog, const char *path)
{
	struct bpf_prog_info ours = {}, theirs = {};
	struct bpf_link_info linfo = {};
	struct bpf_link *link;
	__u32 len;
	int fd, pfd, err;

	fd = bpf_obj_get(path);
	if (fd >= 0) {
		len = sizeof(linfo);
		if (bpf_obj_get_info_by_fd(fd, &linfo, &len) == 0) {
			len = sizeof(ours);
			bpf_obj_get_info_by_fd(bpf_program__fd(prog), &ours, &len);
			pfd = bpf_prog_get_fd_by_id(linfo.prog_id);
			len = sizeof(theirs);
			if (pfd >= 0 && bpf_obj_get_info_by_fd(pfd, &theirs, &len) == 0 &&
			    !memcmp(ours.tag, theirs.tag, sizeof(ours.tag))) {
				close(pfd);
				close(fd);
				return 0; /* same program: keep it */
			}
			if (pfd >= 0)
				close(pfd);
		}
		bpf_link_detach(fd);
		close(fd);
		unlink(path);
	}
	/* released (mc_rw_hooks_release) while another process held the link
	 * (bpftool link show does, for a moment): it still runs this very
	 * program. Pin it again; a second link would count every recv twice */
	fd = link_running(bpf_program__fd(prog));
	if (fd >= 0) {
		err = bpf_obj_pin(fd, path) ? -errno : 0;
		close(fd);
		return err;
	}
	link = bpf_program__attach(prog);
	if (!link)
		return -errno;
	if (bpf_link__pin(link, path)) {
		err = -errno;
		bpf_link__destroy(link);
		return err;
	}
	/* the pin is its only reference from here on: it keeps the link
	 * attached after we exit, and unlinking it detaches the hook
	 * (mc_rw_hooks_release). A disconnected bpf_link__destroy frees the
	 * struct but leaves the fd open, which would keep the hook attached
	 * for as long as this agent runs: close it */
	fd = bpf_link__fd(link);
	bpf_link__disconnect(link);
	bpf_link__destroy(link);
	close(fd);
	return 0;
}

int mc_rw_hooks_attach(struct bpf_object *obj, enum mc_rw_hooks h, const char *dir, char *what,
		       size_t whatlen)
{
	char path[PATH_MAX];
	size_t i;
	int err;

	for (i = 0; i < NHOOKS; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, hooks[i].prog);

		snprintf(path, sizeof(path), "%s/%s", dir, hooks[i].link);
		if (hooks[i].set != h || !p || !bpf_program__autoload(p)) {
			/* the other set's link, from an agent on another kernel */
			int fd = bpf_obj_get(path);

			if (fd >= 0) {
				bpf_link_detach(fd);
				close(fd);
				unlink(path);
			}
			continue;
		}
		err = attach_one(p, path);
		if (err) {
			snprintf(what, whatlen, "%s %s", h == MC_RW_TRACEPOINTS ? "tp_btf" : "fexit",
				 hooks[i].target);
			return err;
		}
	}
	return 0;
}

void mc_rw_hooks_release(const char *dir)
{
	char path[PATH_MAX];
	size_t i;

	/* A tracing link cannot be detached, only dropped with its last
	 * reference. Its pin is its only one (attach_one closes ours), but
	 * the put of an unlinked pin runs later from a workqueue; the close of
	 * an fd frees the link before close() returns. So: take an fd, unlink
	 * the pin, close the fd. (Another process that holds the link keeps it
	 * running our program until it lets go: attach_one pins it again.) */
	for (i = 0; i < NHOOKS; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, hooks[i].link);
		fd = bpf_obj_get(path);
		unlink(path);
		if (fd >= 0)
			close(fd);
	}
}
