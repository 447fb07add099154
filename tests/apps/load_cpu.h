/* load_cpu: CPU time spent in a set of cgroups during meshload's measured
 * window, so that the benchmark's CPU per request is that of the requests it
 * counts (the warm-up at c=1000 with mTLS is mostly TLS handshakes, which a
 * whole-run figure would spread over the window's requests).
 *
 * A watcher thread waits for the window to open (load_engine.h), reads the
 * sum of usage_usec of every cgroup v2 cpu.stat file it was given, and reads
 * it again when the window closes. It polls every 5 ms: the two readings
 * frame the window to within that. */
#ifndef MESHCUT_TESTS_LOAD_CPU_H
#define MESHCUT_TESTS_LOAD_CPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "load_engine.h"

#define LOAD_CPU_MAX_FILES 16

struct load_cpu {
	/* in */
	const char *files[LOAD_CPU_MAX_FILES]; /* cpu.stat paths */
	int nfiles;
	const struct load_target *tgt;
	atomic_bool stop;                      /* the load threads have ended */
	/* out, after load_cpu_join: -1 when a file could not be read or the
	 * window never opened */
	int64_t window_us;
	pthread_t tid;
};

/* Sum of usage_usec over the files, or -1. */
int64_t load_cpu_usage_us(const char *const *files, int nfiles);

/* Start the watcher (cpu->files, nfiles and tgt set). 0, or an errno value. */
int load_cpu_start(struct load_cpu *cpu);

/* Tell the watcher the load is over and wait for it. */
void load_cpu_join(struct load_cpu *cpu);

#endif
