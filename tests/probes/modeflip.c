/*
 * modeflip: switch the agent's mode back and forth at a fixed interval, as
 * fast as an operator's automation never would, through the agent's own API
 * (PUT /v1/mode), so every live pair is moved off the shortcut again and again
 * while new ones keep joining it. Must run where admin calls are allowed (the
 * agent's network namespace, uid 0).
 *
 *   modeflip --socket PATH [--interval-us U[,V]] [--seconds S] [--modes A,B]
 *
 * Alternates between the two modes (default full and off) on one keep-alive
 * connection: U microseconds in the first (default 1000), V in the second
 * (default U), for S seconds, and ends in the first mode. Prints {"flips": N, "failed": M}; exit 1 when any
 * request was refused or failed.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static size_t discard(char *d, size_t s, size_t n, void *u)
{
	(void)d;
	(void)u;
	return s * n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int put_mode(CURL *c, const char *mode)
{
	char body[64];
	long status = 0;

	snprintf(body, sizeof(body), "{\"mode\": \"%s\"}", mode);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) != CURLE_OK)
		return -1;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	return status == 200 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", 1, 0, 's'}, {"interval-us", 1, 0, 'i'}, {"seconds", 1, 0, 'S'},
		{"modes", 1, 0, 'm'},  {0, 0, 0, 0},
	};
	const char *sock = NULL;
	char modes[64] = "full,off", *second;
	long interval_us = 1000, second_us = 0;
	char *comma;
	double seconds = 10, t0, next;
	unsigned long flips = 0, failed = 0;
	struct curl_slist *h = NULL;
	CURL *c;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': sock = optarg; break;
		case 'i':
			interval_us = atol(optarg);
			comma = strchr(optarg, ',');
			second_us = comma ? atol(comma + 1) : 0;
			break;
		case 'S': seconds = atof(optarg); break;
		case 'm': snprintf(modes, sizeof(modes), "%s", optarg); break;
		default: goto usage;
		}
	}
	second = strchr(modes, ',');
	if (!second_us)
		second_us = interval_us;
	if (!sock || interval_us < 1 || second_us < 1 || seconds <= 0 || !second)
		goto usage;
	*second++ = '\0';
	c = curl_easy_init();
	if (!c)
		return 2;
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, "http://meshcut-agent/v1/mode");
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	t0 = next = now();
	while (now() - t0 < seconds) {
		bool to_second = flips++ % 2 == 0; /* starts in the first: go to the second */

		if (put_mode(c, to_second ? second : modes))
			failed++;
		next += (double)(to_second ? second_us : interval_us) * 1e-6;
		if (next > now())
			usleep((useconds_t)((next - now()) * 1e6));
	}
	if (put_mode(c, modes)) /* end in the first mode */
		failed++;
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	printf("{\"flips\":%lu,\"failed\":%lu}\n", flips + 1, failed);
	return failed ? 1 : 0;
usage:
	fprintf(stderr, "usage: modeflip --socket PATH [--interval-us U[,V]] [--seconds S] [--modes A,B]\n");
	return 2;
}
