/* Pinned layouts other than this agent's: see layouts.h. */
#include "shortcut/layouts.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "log.h"

int mc_layouts_scan(const char *pin_dir, struct mc_layout_info *out, int max)
{
	struct dirent *e;
	DIR *d = opendir(pin_dir);
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		char path[PATH_MAX], *end;
		__u32 zero = 0;
		__u64 live = 0;
		long v;
		int fd;

		if (e->d_name[0] != 'v')
			continue;
		v = strtol(e->d_name + 1, &end, 10);
		if (*end || v <= 0 || v > 1000000)
			continue;
		out[n].version = (int)v;
		snprintf(path, sizeof(path), "%s/%s/%s", pin_dir, e->d_name, MC_LIVE_MAP);
		fd = bpf_obj_get(path);
		out[n].census = fd >= 0 && bpf_map_lookup_elem(fd, &zero, &live) == 0;
		out[n].live = live;
		if (fd >= 0)
			close(fd);
		n++;
	}
	closedir(d);
	return n;
}

/* pass 1: detach links (so nothing runs any more); pass 2: unpin the rest */
static void walk(const char *dir, bool links)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR) {
			walk(path, links);
			if (!links && rmdir(path))
				pr_warn("remove %s: %s", path, strerror(errno));
			continue;
		}
		if (links && !strncmp(e->d_name, "link_", 5)) {
			int fd = bpf_obj_get(path);

			/* tracing links cannot be detached: unpinning releases them */
			if (fd >= 0 && bpf_link_detach(fd) && errno != EOPNOTSUPP && errno != EINVAL)
				pr_warn("detach %s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
		}
		if (!links && unlink(path))
			pr_warn("unpin %s: %s", path, strerror(errno));
	}
	closedir(d);
}

int mc_layout_remove(const char *dir)
{
	walk(dir, true);
	walk(dir, false);
	if (rmdir(dir) && errno != ENOENT) {
		pr_warn("remove %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

int mc_layouts_gc(const char *pin_dir, int keep, uint32_t active)
{
	struct mc_layout_info l[16];
	int n = mc_layouts_scan(pin_dir, l, 16), i, removed = 0;

	for (i = 0; i < n; i++) {
		char dir[PATH_MAX];

		if (l[i].version == keep || (uint32_t)l[i].version == active)
			continue;
		if (!l[i].census || l[i].live)
			continue;
		snprintf(dir, sizeof(dir), "%s/v%d", pin_dir, l[i].version);
		if (mc_layout_remove(dir) == 0) {
			pr_info("layout v%d serves no socket any more: removed %s", l[i].version, dir);
			removed++;
		}
	}
	return removed;
}
