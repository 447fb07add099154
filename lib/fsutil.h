/* Small file-system helpers shared by the binaries. */
#ifndef MESHCUT_FSUTIL_H
#define MESHCUT_FSUTIL_H

#include <sys/types.h>

/* mkdir -p: every missing directory of DIR with MODE; 0 or a negative errno */
int mc_mkdir_p(const char *dir, mode_t mode);

/* mkdir -p of the directory PATH names a file in (a socket's, a pin's): 0 when
 * PATH has no directory part, or a negative errno */
int mc_mkdir_parent(const char *path, mode_t mode);

/* The file system (statfs f_type) PATH is on, or, when PATH does not exist
 * yet, the one its nearest existing ancestor (written to near) is on: where
 * mkdir -p would create it. 0, or a negative errno. */
int mc_fs_type(const char *path, long *type, char *near, size_t nearlen);

/* a name for a file system type: "cgroup2", "cgroup (v1)", "bpf", "tmpfs", ... */
const char *mc_fs_name(long type);

/* the first cgroup2 mount in /proc/mounts, or NULL */
const char *mc_cgroup2_mount(void);

#endif
