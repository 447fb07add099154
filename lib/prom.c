/* The Prometheus text exposition format (prom.h). */
#include "prom.h"

void mc_prom_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_name(FILE *f, const char *name, const char *labels)
{
	if (labels && *labels)
		fprintf(f, "%s{%s} ", name, labels);
	else
		fprintf(f, "%s ", name);
}

void mc_prom_u64(FILE *f, const char *name, const char *labels, unsigned long long v)
{
	sample_name(f, name, labels);
	fprintf(f, "%llu\n", v);
}

void mc_prom_f64(FILE *f, const char *name, const char *labels, double v)
{
	sample_name(f, name, labels);
	/* fixed nanoseconds, as the monitor's _sum always printed: a large sum
	 * keeps every integer digit, and the text stays what scrapers saw */
	fprintf(f, "%.9f\n", v);
}

void mc_prom_one(FILE *f, const char *name, const char *type, const char *help,
		 unsigned long long v)
{
	mc_prom_family(f, name, type, help);
	mc_prom_u64(f, name, NULL, v);
}
