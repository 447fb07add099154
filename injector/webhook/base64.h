/* base64 (RFC 4648, with padding, no line breaks): AdmissionReview carries the
 * JSON Patch as a base64 string. */
#ifndef MESHCUT_WEBHOOK_BASE64_H
#define MESHCUT_WEBHOOK_BASE64_H

#include <stddef.h>

/* Returns a NUL-terminated malloc'd encoding of buf[0..len), or NULL. */
char *base64_encode(const void *buf, size_t len);

#endif
