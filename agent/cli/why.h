/* meshcut why NAMESPACE/POD | IP: why a pod is (not) accelerated on this node (why.c). */
#ifndef MESHCUT_CLI_WHY_H
#define MESHCUT_CLI_WHY_H

#include <stdbool.h>

/* 0 registered, 1 not (refused, unsupported, unknown), 2 usage, 3 agent unreachable */
int mc_cli_why(const char *sock, const char *target, bool as_json);

#endif
