/* load_cpu: cgroups' CPU time over the measured window (see load_cpu.h). */
#include "load_cpu.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define POLL_NS 5000000ull

int64_t load_cpu_usage_us(const char *const *files, int nfiles)
{
	int64_t total = 0;

	for (int i = 0; i < nfiles; i++) {
		FILE *f = fopen(files[i], "re");
		char key[64];
		int64_t v, found = -1;

		if (!f)
			return -1;
		while (fscanf(f, "%63s %" SCNd64, key, &v) == 2) {
			if (!strcmp(key, "usage_usec")) {
				found = v;
				break;
			}
		}
		fclose(f);
		if (found < 0)
			return -1;
		total += found;
	}
	return total;
}

static void nap(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };
	nanosleep(&ts, NULL);
}

static void *watch(void *arg)
{
	struct load_cpu *cpu = arg;
	const struct load_target *tgt = cpu->tgt;
	uint64_t start, end, now;
	int64_t a, b;

	cpu->window_us = -1;
	while ((start = atomic_load(&tgt->window_start)) == LOAD_WINDOW_UNSET) {
		if (atomic_load(&cpu->stop))
			return NULL;
		nap(POLL_NS);
	}
	a = load_cpu_usage_us(cpu->files, cpu->nfiles);
	end = start + tgt->duration_ns;
	while ((now = load_now_ns()) < end)
		nap(end - now < POLL_NS ? end - now : POLL_NS);
	b = load_cpu_usage_us(cpu->files, cpu->nfiles);
	if (a >= 0 && b >= a)
		cpu->window_us = b - a;
	return NULL;
}

int load_cpu_start(struct load_cpu *cpu)
{
	atomic_init(&cpu->stop, false);
	cpu->window_us = -1;
	return pthread_create(&cpu->tid, NULL, watch, cpu);
}

void load_cpu_join(struct load_cpu *cpu)
{
	atomic_store(&cpu->stop, true);
	pthread_join(cpu->tid, NULL);
}
