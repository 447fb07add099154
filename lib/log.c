/* Logging: see log.h. JSON lines are built with jansson so any message text is
 * escaped correctly. */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *log_prog = "meshcut";
static enum mc_log_level log_max = MC_LOG_INFO;
static bool log_json;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void mc_log_init(const char *prog, enum mc_log_level level, bool json)
{
	log_prog = prog;
	log_max = level;
	log_json = json;
}

enum mc_log_level mc_log_level(void)
{
	return log_max;
}

void mc_log(enum mc_log_level level, const char *fmt, ...)
{
	char msg[1024], ts[96];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!log_json) {
		fprintf(stderr, "%s: %s: %s\n", log_prog, level_names[level], msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "prog",
			      log_prog, "msg", msg);
	char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (line)
		fprintf(stderr, "%s\n", line);
	free(line);
	json_decref(j);
}
