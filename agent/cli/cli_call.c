/* The CLI's requests to the agent: see cli_call.h. */
#include "cli/cli_call.h"

#include <stdio.h>
#include <stdlib.h>

#include "agent_client.h"

int mc_cli_call(const char *sock, const char *method, const char *path, const char *body,
		long timeout_s, long *status, json_t **out)
{
	char err[256], *text = NULL;
	json_error_t jerr;
	long st = 0;

	*out = NULL;
	if (status)
		*status = 0;
	if (mc_agent_call(sock, method, path, body, timeout_s, &st, &text, err, sizeof(err))) {
		fprintf(stderr, "meshcut: %s\n", err);
		return 3;
	}
	if (status)
		*status = st;
	*out = json_loads(text, 0, &jerr);
	free(text);
	if (!*out) {
		fprintf(stderr, "meshcut: the agent's answer is not JSON (%s)\n", jerr.text);
		return 1;
	}
	if (st >= 400) {
		const char *m = json_string_value(json_object_get(*out, "error"));

		fprintf(stderr, "meshcut: %s (HTTP %ld)\n", m ? m : "request failed", st);
		return 1;
	}
	return 0;
}

void mc_cli_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s)
		puts(s);
	free(s);
}
