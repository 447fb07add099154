/* applog: error messages of the test services, prefixed with the program and
 * service name so that a cluster's interleaved logs say who complained. */
#ifndef MESHCUT_TESTS_APPLOG_H
#define MESHCUT_TESTS_APPLOG_H

/* Set once at start-up, e.g. "meshapp[front]". */
void applog_set_name(const char *name);

/* One line to stderr: "<name>: <message>\n", written with a single write()
 * so that lines from concurrent threads never mix. */
void applog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
