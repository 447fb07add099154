/* Network namespace identity: the kernel's 64-bit netns cookie (never reused
 * while the kernel runs, unlike an inode number across a namespace's life).
 * The agent keys pods by it, decides who is admin by it, and rate-limits by
 * it; meshcut-init sends its own with a registration. */
#ifndef MESHCUT_NETNS_H
#define MESHCUT_NETNS_H

#include <stdint.h>

/* SO_NETNS_COOKIE is in Linux 5.14's UAPI; older libc headers lack the name */
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* the cookie of the namespace socket FD lives in; 0, or a negative errno */
int mc_sock_netns_cookie(int fd, uint64_t *cookie);

/* the cookie of the calling thread's own network namespace, or 0 when the
 * kernel cannot tell (no socket, or no SO_NETNS_COOKIE: older than 5.14) */
uint64_t mc_own_netns_cookie(void);

#endif
