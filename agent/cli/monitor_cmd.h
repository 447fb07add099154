/* meshcut monitor: the CLI side of the latency monitor (monitor_cmd.c). */
#ifndef MESHCUT_CLI_MONITOR_CMD_H
#define MESHCUT_CLI_MONITOR_CMD_H

#include <stdbool.h>

/* argv[0] is "monitor"; returns the CLI's exit code */
int mc_cli_monitor(const char *socket_path, bool as_json, int argc, char **argv);

#endif
