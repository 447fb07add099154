/* meshcut-webhook's command line. */
#ifndef MESHCUT_WEBHOOK_OPTIONS_H
#define MESHCUT_WEBHOOK_OPTIONS_H

#include "patch.h"

#include <stdbool.h>

struct options {
	const char *cert, *key, *listen;
	const char *metrics_listen; /* NULL: no metrics listener */
	struct inject_cfg inject;
	unsigned int reload_interval; /* seconds between looks at the certificate files */
	unsigned int shutdown_delay;  /* seconds unready but serving after SIGTERM */
	bool verbose, log_json;
};

/* Fills o from argv, defaults first. Returns 0, 1 after printing --help, or
 * -1 after printing what is wrong. Everything that would end up in a pod is
 * checked here: a bad quantity in every patch would make the API server
 * reject every injected pod, which failurePolicy Ignore does not cover. */
int options_parse(int argc, char **argv, struct options *o);

/* A Kubernetes resource quantity ("10m", "16Mi", "1.5", "1e3"), unsigned. */
bool options_quantity_valid(const char *q);

#endif
