/* Registration security: not built yet (this stub accepts every claim). */
#include "verify.h"

int mc_verify_registration(int conn_fd, uint64_t caller_netns, const struct mc_registration *r,
			   char *msg, size_t msglen)
{
	(void)conn_fd;
	(void)caller_netns;
	(void)r;
	(void)msg;
	(void)msglen;
	return 0;
}
