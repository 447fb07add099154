/* Small file-system helpers: see fsutil.h. */
#include "fsutil.h"

#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

int mc_mkdir_p(const char *dir, mode_t mode)
{
	char tmp[PATH_MAX], *p;

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

int mc_mkdir_parent(const char *path, mode_t mode)
{
	char dir[PATH_MAX], *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return mc_mkdir_p(dir, mode);
}

int mc_fs_type(const char *path, long *type, char *near, size_t nearlen)
{
	char tmp[PATH_MAX], *slash;
	struct statfs st;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	while (statfs(tmp, &st)) {
		if (errno != ENOENT)
			return -errno;
		slash = strrchr(tmp, '/');
		if (!slash)
			return -ENOENT; /* a relative path with no existing part */
		if (slash == tmp) {
			tmp[1] = '\0'; /* the root */
			continue;
		}
		*slash = '\0';
	}
	*type = (long)st.f_type;
	if (near)
		snprintf(near, nearlen, "%s", tmp);
	return 0;
}

const char *mc_fs_name(long type)
{
	switch ((unsigned long)type) {
	case CGROUP2_SUPER_MAGIC:
		return "cgroup2";
	case CGROUP_SUPER_MAGIC:
		return "cgroup (v1)";
	case BPF_FS_MAGIC:
		return "bpf";
	case TMPFS_MAGIC:
		return "tmpfs";
	case SYSFS_MAGIC:
		return "sysfs";
	case PROC_SUPER_MAGIC:
		return "proc";
	case OVERLAYFS_SUPER_MAGIC:
		return "overlay";
	case EXT4_SUPER_MAGIC:
		return "ext4";
	case XFS_SUPER_MAGIC:
		return "xfs";
	}
	return "another file system";
}

const char *mc_cgroup2_mount(void)
{
	static char path[256];
	char line[512], dev[64], mnt[256], type[64];
	FILE *f = fopen("/proc/mounts", "r");

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %255s %63s", dev, mnt, type) == 3 && !strcmp(type, "cgroup2")) {
			snprintf(path, sizeof(path), "%s", mnt);
			fclose(f);
			return path;
		}
	}
	fclose(f);
	return NULL;
}
