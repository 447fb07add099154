/* applog: one-line error messages to stderr (see applog.h). */
#include "applog.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static char prefix[128] = "meshapp";

void applog_set_name(const char *name)
{
	snprintf(prefix, sizeof(prefix), "%s", name);
}

void applog(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n = snprintf(line, sizeof(line), "%s: ", prefix);

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}
