/* HTTP over the agent's Unix socket: see agent_client.h. */
#include "agent_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct body {
	char *p;
	size_t len;
};

#define MAX_ANSWER (8u << 20)

static size_t collect(char *data, size_t size, size_t n, void *ud)
{
	struct body *b = ud;
	size_t len = size * n;
	char *np;

	if (b->len + len > MAX_ANSWER)
		return 0; /* abort: no agent answer is that large */
	np = realloc(b->p, b->len + len + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

int mc_agent_call(const char *socket_path, const char *method, const char *path,
		  const char *json_body, long timeout_s, long *status, char **answer, char *err,
		  size_t errlen)
{
	struct curl_slist *h = NULL;
	struct body b = {0};
	char url[1024];
	CURLcode rc;
	CURL *c;

	*answer = NULL;
	*status = 0;
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "libcurl initialisation failed");
		return -1;
	}
	snprintf(url, sizeof(url), "http://meshcut-agent%s", path);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (json_body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		*answer = b.p ? b.p : strdup("");
	} else {
		snprintf(err, errlen, "agent unreachable at %s: %s", socket_path,
			 curl_easy_strerror(rc));
		free(b.p);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? 0 : -1;
}
