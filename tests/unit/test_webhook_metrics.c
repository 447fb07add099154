/* Unit tests of injector/webhook/metrics: the page Prometheus reads. Labels
 * are fixed words made from the reasons, every outcome shows before its first
 * review, and the histogram's buckets are cumulative. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../injector/webhook/metrics.h"

static void has(const char *page, const char *line)
{
	if (!strstr(page, line))
		fail_msg("missing \"%s\" in:\n%s", line, page);
}

static void test_page(void **state)
{
	char *t;
	(void)state;

	t = metrics_text();
	assert_non_null(t);
	/* nothing yet: one zero series per outcome */
	has(t, "meshcut_webhook_admissions_total{outcome=\"injected\",reason=\"none\"} 0\n");
	has(t, "meshcut_webhook_admissions_total{outcome=\"skipped\",reason=\"none\"} 0\n");
	has(t, "meshcut_webhook_admissions_total{outcome=\"error\",reason=\"none\"} 0\n");
	has(t, "# TYPE meshcut_webhook_admission_duration_seconds histogram\n");
	free(t);

	metrics_admission("injected", "classic sidecar", 0.0001);
	metrics_admission("injected", "classic sidecar", 0.003);
	metrics_admission("skipped", "no Istio sidecar (yet)", 0.2);
	metrics_admission("error", "bad request", 10);
	metrics_admission("skipped", "captured by Istio ambient (ambient.istio.io/redirection: enabled)", 0.001);
	metrics_admission("error", "too large", -1); /* counted, not timed */
	t = metrics_text();
	assert_non_null(t);
	has(t, "meshcut_webhook_admissions_total{outcome=\"injected\",reason=\"classic_sidecar\"} 2\n");
	has(t, "meshcut_webhook_admissions_total{outcome=\"skipped\",reason=\"no_istio_sidecar_yet\"} 1\n");
	has(t, "meshcut_webhook_admissions_total{outcome=\"error\",reason=\"bad_request\"} 1\n");
	has(t, "meshcut_webhook_admissions_total{outcome=\"skipped\",reason=\"captured_by_istio_ambient\"} 1\n");
	has(t, "meshcut_webhook_admissions_total{outcome=\"error\",reason=\"too_large\"} 1\n");
	assert_null(strstr(t, "reason=\"none\""));
	has(t, "meshcut_webhook_admission_duration_seconds_bucket{le=\"0.0005\"} 1\n");
	has(t, "meshcut_webhook_admission_duration_seconds_bucket{le=\"0.005\"} 3\n");
	has(t, "meshcut_webhook_admission_duration_seconds_bucket{le=\"0.25\"} 4\n");
	has(t, "meshcut_webhook_admission_duration_seconds_bucket{le=\"2.5\"} 4\n");
	has(t, "meshcut_webhook_admission_duration_seconds_bucket{le=\"+Inf\"} 5\n");
	has(t, "meshcut_webhook_admission_duration_seconds_count 5\n");
	free(t);
}

/* more distinct reasons than slots: the rest count as "other", none lost */
static void test_slots_bounded(void **state)
{
	static char reasons[40][16];
	unsigned long long sum = 0;
	char *t, *p;
	int i;
	(void)state;

	for (i = 0; i < 40; i++) {
		snprintf(reasons[i], sizeof(reasons[i]), "r%d", i);
		metrics_admission("skipped", reasons[i], 0);
	}
	t = metrics_text();
	assert_non_null(t);
	has(t, "meshcut_webhook_admissions_total{outcome=\"other\",reason=\"other\"}");
	for (p = strtok(t, "\n"); p; p = strtok(NULL, "\n"))
		if (!strncmp(p, "meshcut_webhook_admissions_total{", 33))
			sum += strtoull(strrchr(p, ' ') + 1, NULL, 10);
	assert_int_equal(sum, 6 + 40); /* test_page's six, these forty */
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_slots_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
