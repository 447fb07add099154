/* Network namespace identity (netns.h). */
#include "netns.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

int mc_sock_netns_cookie(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	*cookie = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
		return -errno;
	return 0;
}

uint64_t mc_own_netns_cookie(void)
{
	uint64_t cookie = 0;
	/* any socket lives in the namespace of the thread that made it */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		if (mc_sock_netns_cookie(fd, &cookie))
			cookie = 0;
		close(fd);
	}
	return cookie;
}
