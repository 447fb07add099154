/* base64: see base64.h. */
#include "base64.h"

#include <stdint.h>
#include <stdlib.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *buf, size_t len)
{
	const unsigned char *in = buf;
	size_t out_len = (len + 2) / 3 * 4;
	char *out, *p;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 2)
		return NULL;
	out = malloc(out_len + 1);
	if (!out)
		return NULL;
	p = out;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		*p++ = alphabet[(v >> 18) & 63];
		*p++ = alphabet[(v >> 12) & 63];
		*p++ = left > 1 ? alphabet[(v >> 6) & 63] : '=';
		*p++ = left > 2 ? alphabet[v & 63] : '=';
	}
	*p = '\0';
	return out;
}
