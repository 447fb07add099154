/* One AdmissionReview (admission.k8s.io/v1) in, one reply out: the part of the
 * webhook that knows nothing of HTTP or TLS. */
#ifndef MESHCUT_WEBHOOK_REVIEW_H
#define MESHCUT_WEBHOOK_REVIEW_H

#include "patch.h"

#include <stddef.h>

struct review_reply {
	unsigned int http_status; /* 200, or 400 for a request that is not a v1 AdmissionReview */
	char *body;               /* malloc'd JSON */
	/* for metrics: "injected", "skipped" or "error", and why (a static
	 * string: pod_decide's reason, or a fixed word) */
	const char *outcome, *reason;
};

/* Answers the request body[0..len). A pod is never refused: every answer that
 * carries a uid says allowed. Returns 0, or -1 when out of memory. */
int review_handle(const char *body, size_t len, const struct inject_cfg *cfg,
		  struct review_reply *reply);

#endif
