/*
 * Pinned map layouts other than this agent's (bpf/control.h): after an upgrade
 * (or a rollback) the old (or newer) layout's maps and programs keep serving
 * the sockets they hold until those close; this agent never adopts them.
 * Through the fixed-layout census map (mc_live) it knows when such a layout
 * serves nothing any more, and then removes exactly what is pinned there.
 */
#ifndef MESHCUT_AGENT_LAYOUTS_H
#define MESHCUT_AGENT_LAYOUTS_H

#include <stdbool.h>
#include <stdint.h>

struct mc_layout_info {
	int version;
	bool census;   /* has an mc_live map */
	uint64_t live; /* sockets it still holds */
};

/* every vN directory under pin_dir; returns how many (at most max) */
int mc_layouts_scan(const char *pin_dir, struct mc_layout_info *out, int max);

/* remove every layout other than `keep` and `active` whose census says 0;
 * returns how many were removed */
int mc_layouts_gc(const char *pin_dir, int keep, uint32_t active);

/* detach every link pinned under dir (recursively), then unpin everything
 * and remove the directories; 0 when dir is gone afterwards */
int mc_layout_remove(const char *dir);

#endif
