/* HTTP over the agent's Unix socket (libcurl), for meshcut-init and the CLI. */
#ifndef MESHCUT_AGENT_CLIENT_H
#define MESHCUT_AGENT_CLIENT_H

#include <stddef.h>

/* Returns 0 when the agent answered (HTTP status in *status, body in *answer,
 * NUL-terminated, caller frees), -1 when it could not be reached (a message in
 * err). */
int mc_agent_call(const char *socket_path, const char *method, const char *path,
		  const char *json_body, long timeout_s, long *status, char **answer, char *err,
		  size_t errlen);

#endif
