/* Logging for every meshcut binary: one line per event, text or JSON lines
 * (structured logs for the agent), debug output hidden unless asked for. */
#ifndef MESHCUT_LOG_H
#define MESHCUT_LOG_H

#include <stdbool.h>

enum mc_log_level { MC_LOG_ERROR, MC_LOG_WARN, MC_LOG_INFO, MC_LOG_DEBUG };

void mc_log_init(const char *prog, enum mc_log_level level, bool json);
enum mc_log_level mc_log_level(void);
void mc_log(enum mc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_err(...) mc_log(MC_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...) mc_log(MC_LOG_WARN, __VA_ARGS__)
#define pr_info(...) mc_log(MC_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) mc_log(MC_LOG_DEBUG, __VA_ARGS__)

#endif
