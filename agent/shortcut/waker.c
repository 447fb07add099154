/* Readers woken after their socket left the shortcut: see waker.h. */
#include "shortcut/waker.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "netns.h"
#include "wake.h"
#include "wake.skel.h"

void mc_waker_init(struct mc_waker *w, const char *netns_dir)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	w->netns_dir = netns_dir && *netns_dir ? netns_dir : NULL;
}

void mc_waker_free(struct mc_waker *w)
{
	bpf_link__destroy(w->link);
	wake__destroy(w->skel);
	free(w->queued);
	pthread_mutex_destroy(&w->lock);
	memset(w, 0, sizeof(*w));
}

void mc_waker_queue(void *waker, uint64_t sock_cookie, uint64_t netns_hint)
{
	struct mc_waker *w = waker;
	struct mc_wake_sock *p;
	uint32_t want;

	pthread_mutex_lock(&w->lock);
	if (w->n_queued == w->cap_queued) {
		want = w->cap_queued ? w->cap_queued * 2 : 64;
		p = reallocarray(w->queued, want, sizeof(*p));
		if (!p) { /* not woken */
			pthread_mutex_unlock(&w->lock);
			__atomic_fetch_add(&w->missed, 1, __ATOMIC_RELAXED);
			return;
		}
		w->queued = p;
		w->cap_queued = want;
	}
	w->queued[w->n_queued++] = (struct mc_wake_sock){.cookie = sock_cookie, .netns = netns_hint};
	pthread_mutex_unlock(&w->lock);
}

/* loaded once, at the first pass that needs it: 0, or -errno (the waker
 * stays off, except after a shortage that the next pass may not meet) */
static int load(struct mc_waker *w)
{
	int err;

	if (w->state)
		return w->state < 0 ? w->state : 0;
	if (!w->netns_dir) {
		w->state = -ENOENT;
		pr_warn("readers of sockets that leave the shortcut are not woken: no --netns-dir "
			"(an edge-triggered reader may wait for more bytes, docs/semantics.md)");
		return w->state;
	}
	w->skel = wake__open_and_load();
	if (w->skel)
		w->link = bpf_program__attach_iter(w->skel->progs.mc_wake, NULL);
	if (w->skel && w->link) {
		w->state = 1;
		return 0;
	}
	err = errno ? -errno : -EINVAL;
	bpf_link__destroy(w->link);
	wake__destroy(w->skel);
	w->link = NULL;
	w->skel = NULL;
	if (err == -ENOMEM || err == -EAGAIN || err == -EINTR)
		return err; /* tried again at the next pass */
	w->state = err;
	pr_warn("readers of sockets that leave the shortcut are not woken: the kernel refused "
		"the wake iterator (%s; an edge-triggered reader may wait for more bytes, "
		"docs/semantics.md)", strerror(-err));
	return err;
}

/* one pass, from a thread of its own: its namespace changes die with it */
struct pass {
	const char *dir;
	int link_fd;
	const uint64_t *pods;       /* NULL: any namespace but the agent's own (run_any) */
	uint32_t n_pods, n_queued;
	const uint64_t *hints;      /* namespaces the queued sockets most likely live in */
	uint32_t n_hints;
	uint64_t own;
	uint64_t *walked;           /* namespaces walked in this pass */
	uint32_t n_walked, cap_walked;
	struct wake__bss *bss;
	int err;                    /* the first failure: reported only when a socket was missed */
};

static bool in(const uint64_t *v, uint32_t n, uint64_t x)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static uint32_t found(const struct pass *p)
{
	return __atomic_load_n(&p->bss->mc_woken, __ATOMIC_RELAXED) +
	       __atomic_load_n(&p->bss->mc_wake_errs, __ATOMIC_RELAXED);
}

/* walk the sockets of the namespace this thread is in now */
static void walk_here(struct pass *p)
{
	char buf[64];
	ssize_t r;
	int it = bpf_iter_create(p->link_fd);

	if (it < 0) {
		p->err = p->err ? p->err : -errno;
		return;
	}
	/* the kernel stops a read with EAGAIN after many sockets without output */
	while ((r = read(it, buf, sizeof(buf))) > 0 || (r < 0 && (errno == EINTR || errno == EAGAIN)))
		;
	if (r < 0)
		p->err = p->err ? p->err : -errno;
	close(it);
}

/* enter every namespace in the directory and walk those wanted: the hinted
 * ones (hinted_only), or any registered pod's (or any at all) */
static void walk_dir(struct pass *p, DIR *d, bool hinted_only)
{
	struct dirent *e;
	uint64_t netns, *v;
	int fd;

	rewinddir(d);
	while (found(p) < p->n_queued && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd < 0)
			continue;
		/* a bind mount of a network namespace, not a leftover file */
		if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET || setns(fd, CLONE_NEWNET)) {
			close(fd);
			continue;
		}
		close(fd);
		netns = mc_own_netns_cookie();
		if (!netns || netns == p->own || in(p->walked, p->n_walked, netns))
			continue; /* walked already, maybe under another name */
		if (hinted_only ? !in(p->hints, p->n_hints, netns)
				: p->pods && !in(p->pods, p->n_pods, netns))
			continue;
		if (p->n_walked == p->cap_walked) {
			v = reallocarray(p->walked, p->cap_walked ? p->cap_walked * 2 : 32, sizeof(*v));
			if (!v) {
				p->err = p->err ? p->err : -ENOMEM;
				return;
			}
			p->walked = v;
			p->cap_walked = p->cap_walked ? p->cap_walked * 2 : 32;
		}
		p->walked[p->n_walked++] = netns;
		walk_here(p);
	}
}

static void *walk(void *arg)
{
	struct pass *p = arg;
	DIR *d = opendir(p->dir);

	if (!d) {
		p->err = -errno;
		return NULL;
	}
	/* most sockets live where their pair's client does: those first, and
	 * the other pods only for what is still missing */
	if (p->n_hints)
		walk_dir(p, d, true);
	if (found(p) < p->n_queued)
		walk_dir(p, d, false);
	closedir(d);
	return NULL;
}

/* one pass over at most MC_WAKE_MAX sockets */
static int run_chunk(struct mc_waker *w, struct pass *p, const struct mc_wake_sock *q, uint32_t n)
{
	uint64_t *hints;
	uint32_t i, got;
	uint8_t one = 1;
	pthread_t t;
	int err;

	hints = calloc(n, sizeof(*hints));
	if (!hints)
		return -ENOMEM;
	p->hints = hints;
	p->n_hints = 0;
	p->n_queued = n;
	p->n_walked = 0;
	p->err = 0;
	p->bss->mc_woken = 0;
	p->bss->mc_wake_errs = 0;
	for (i = 0; i < n; i++) {
		bpf_map__update_elem(w->skel->maps.mc_wake_socks, &q[i].cookie, sizeof(q[i].cookie),
				     &one, sizeof(one), BPF_ANY);
		if (q[i].netns && !in(hints, p->n_hints, q[i].netns))
			hints[p->n_hints++] = q[i].netns;
	}
	err = -pthread_create(&t, NULL, walk, p);
	if (!err)
		pthread_join(t, NULL);
	/* sockets not found (closed meanwhile, or in no namespace we could
	 * enter) must not be woken by a later pass: their cookies go */
	for (i = 0; i < n; i++)
		bpf_map__delete_elem(w->skel->maps.mc_wake_socks, &q[i].cookie, sizeof(q[i].cookie), 0);
	got = p->bss->mc_woken + p->bss->mc_wake_errs;
	__atomic_fetch_add(&w->woken, p->bss->mc_woken, __ATOMIC_RELAXED);
	__atomic_fetch_add(&w->errors, p->bss->mc_wake_errs, __ATOMIC_RELAXED);
	__atomic_fetch_add(&w->missed, n > got ? n - got : 0, __ATOMIC_RELAXED);
	free(hints);
	p->hints = NULL;
	if (err)
		return err;
	return got < n ? p->err : 0; /* a failure that cost nothing is no failure */
}

static int run(struct mc_waker *w, const uint64_t *pods, uint32_t n_pods, bool any)
{
	struct pass p = {.pods = pods, .n_pods = n_pods}; /* any: NULL, 0 */
	struct mc_wake_sock *queued;
	uint32_t n_queued, i, n;
	uint32_t woken0 = 0;
	int err, first = 0;

	pthread_mutex_lock(&w->lock);
	queued = w->queued;
	n_queued = w->n_queued;
	w->queued = NULL;
	w->n_queued = w->cap_queued = 0;
	pthread_mutex_unlock(&w->lock);
	if (!n_queued) {
		free(queued);
		return 0;
	}
	if ((err = load(w)) || (!any && (!pods || !n_pods))) {
		__atomic_fetch_add(&w->missed, n_queued, __ATOMIC_RELAXED);
		free(queued);
		return err;
	}
	p.dir = w->netns_dir;
	p.link_fd = bpf_link__fd(w->link);
	p.bss = w->skel->bss;
	p.own = mc_own_netns_cookie();
	woken0 = (uint32_t)__atomic_load_n(&w->woken, __ATOMIC_RELAXED);
	for (i = 0; i < n_queued; i += n) {
		n = n_queued - i < MC_WAKE_MAX ? n_queued - i : MC_WAKE_MAX;
		err = run_chunk(w, &p, queued + i, n);
		if (err && !first)
			first = err;
	}
	free(p.walked);
	free(queued);
	if (first && !w->warned) {
		w->warned = 1;
		pr_warn("waking the readers of sockets that left the shortcut: %s (%s); an "
			"edge-triggered reader may wait for more bytes (docs/semantics.md)",
			strerror(-first), w->netns_dir);
	}
	return first ? first
		     : (int)((uint32_t)__atomic_load_n(&w->woken, __ATOMIC_RELAXED) - woken0);
}

int mc_waker_run(struct mc_waker *w, const uint64_t *pods, uint32_t n_pods)
{
	return run(w, pods, n_pods, false);
}

int mc_waker_run_any(struct mc_waker *w)
{
	return run(w, NULL, 0, true);
}
