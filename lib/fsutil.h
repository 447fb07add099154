/* Small file-system helpers shared by the binaries. */
#ifndef MESHCUT_FSUTIL_H
#define MESHCUT_FSUTIL_H

#include <sys/types.h>

/* mkdir -p: every missing directory of DIR with MODE; 0 or a negative errno */
int mc_mkdir_p(const char *dir, mode_t mode);

#endif
