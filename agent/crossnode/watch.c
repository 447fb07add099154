/*
 * The cross-node shortcut's watcher thread: follows the node's links and
 * routes (rtnetlink notifications, a full resync every RESYNC_NS) and forgets
 * flows that are over.
 */
#include "crossnode/tc_internal.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <poll.h>

#include "crossnode/tc_nl.h"

#define GC_NS (15ull * 1000000000)

struct events {
	bool resync;
	int gone[64], changed[64];
	size_t ngone, nchanged;
};

static void on_event(int type, int ifindex, void *vctx)
{
	struct events *e = vctx;

	switch (type) {
	case RTM_DELLINK:
		if (e->ngone < 64)
			e->gone[e->ngone++] = ifindex;
		else
			e->resync = true;
		e->resync = true; /* an overlay may have gone */
		break;
	case RTM_NEWLINK:
		if (e->nchanged < 64)
			e->changed[e->nchanged++] = ifindex;
		e->resync = true;
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		e->resync = true;
		break;
	}
}

void *tc_watcher(void *arg)
{
	struct mc_tc *t = arg;
	uint64_t last_sync = tc_now_ns(), last_gc = tc_now_ns(), last_full = tc_now_ns();
	bool pending = false;

	for (;;) {
		struct pollfd p[2] = {{.fd = t->wake[0], .events = POLLIN}, {.fd = t->nl_fd, .events = POLLIN}};
		struct events e = {0};
		uint64_t now;
		size_t i;

		poll(p, t->nl_fd >= 0 ? 2 : 1, pending ? 200 : 1000);
		if (p[0].revents)
			break;
		if (t->nl_fd >= 0 && (p[1].revents & POLLIN) &&
		    tc_nl_monitor_read(t->nl_fd, on_event, &e) == -ENOBUFS)
			e.resync = true;
		now = tc_now_ns();
		pthread_mutex_lock(&t->lock);
		for (i = 0; i < e.ngone; i++)
			tc_forget_dev(t, e.gone[i]);
		for (i = 0; i < e.nchanged; i++)
			tc_refresh_pod_dev(t, e.changed[i]);
		pending = pending || e.resync;
		/* bursts of changes (a node joining) settle for 200 ms first */
		if ((pending && now - last_sync > 200000000ull) || now - last_sync > RESYNC_NS) {
			tc_sync_overlays(t);
			last_sync = now;
			pending = false;
		}
		if (now - last_full > 6 * RESYNC_NS) {
			tc_check_records(t);
			last_full = now;
		}
		pthread_mutex_unlock(&t->lock);
		if (now - last_gc > GC_NS) {
			tc_gc_flows(t);
			last_gc = now;
		}
	}
	return NULL;
}

