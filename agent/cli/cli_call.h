/* The CLI's requests to the agent (meshcut.c, monitor_cmd.c). */
#ifndef MESHCUT_CLI_CALL_H
#define MESHCUT_CLI_CALL_H

#include <jansson.h>

/* METHOD PATH with BODY (JSON text or NULL) on the agent's Unix socket; parses
 * the JSON answer into *out (the caller frees it, also on errors). Prints the
 * agent's error. Returns 0, 1 (an error answer or not JSON) or 3 (agent
 * unreachable); *status (may be NULL) gets the HTTP status. */
int mc_cli_call(const char *sock, const char *method, const char *path, const char *body,
		long timeout_s, long *status, json_t **out);

/* indented, sorted keys, on stdout */
void mc_cli_print_json(json_t *j);

#endif
