/* libFuzzer target: the address, CIDR, port-list and MAC parsers of lib/addr.c
 * (they read Istio annotations and registration fields a pod controls). Each
 * input goes through every parser; results must hold the parsers' promises:
 * 0 or -1, a message on -1, no count on -1, values in range, canonical forms
 * that parse back to themselves. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define CHECK(c)                   \
	do {                       \
		if (!(c))          \
			abort();   \
	} while (0)

static void check_err(int rc, const char *err)
{
	if (rc == 0)
		return;
	CHECK(rc == -1);
	CHECK(err[0] != '\0');
	CHECK(memchr(err, '\0', MC_ERRLEN));
}

static void check_cidr(const struct mc_cidr *c)
{
	int i;

	CHECK(c->prefix_len <= 128);
	if (mc_addr_v4(&c->addr))
		CHECK(c->prefix_len >= 96);
	/* host bits are clear */
	for (i = 0; i < 4; i++) {
		unsigned int lo = (unsigned int)i * 32, keep;
		uint32_t mask;

		keep = c->prefix_len > lo ? c->prefix_len - lo : 0;
		mask = keep >= 32 ? 0xffffffffu : (keep ? ~(0xffffffffu >> keep) : 0);
		CHECK((ntohl(c->addr.w[i]) & ~mask) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[MC_ERRLEN], buf[INET6_ADDRSTRLEN + 8], *s;
	struct mc_addr a, b;
	struct mc_cidr c, cl[MC_MAX_CIDRS];
	uint16_t ports[MC_MAX_PORTS];
	uint8_t mac[6], mac2[6];
	size_t n, i, max;
	bool all;
	int rc;

	/* the parsers take C strings: an exact-size NUL-terminated copy */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* a small list capacity from the input, to reach "too many" paths */
	max = size ? (size_t)(data[0] % MC_MAX_PORTS) + 1 : MC_MAX_PORTS;

	err[0] = '\0';
	rc = mc_parse_ip(s, &a, err);
	check_err(rc, err);
	if (rc == 0) {
		/* canonical text parses back to the same address */
		mc_format_ip(&a, buf, sizeof(buf));
		CHECK(mc_parse_ip(buf, &b, err) == 0);
		CHECK(!memcmp(&a, &b, sizeof(a)));
	}

	err[0] = '\0';
	rc = mc_parse_cidr(s, &c, err);
	check_err(rc, err);
	if (rc == 0)
		check_cidr(&c);

	err[0] = '\0';
	n = 12345;
	rc = mc_parse_ports(s, ports, max, &n, &all, err);
	check_err(rc, err);
	if (rc == 0) {
		CHECK(n <= max);
		CHECK(!all || n == 0);
		for (i = 0; i < n; i++)
			CHECK(ports[i] >= 1);
	} else {
		CHECK(n == 0);
	}
	err[0] = '\0';
	rc = mc_parse_ports(s, ports, MC_MAX_PORTS, &n, NULL, err); /* "*" not allowed */
	check_err(rc, err);
	CHECK(rc == 0 || n == 0);

	err[0] = '\0';
	n = 12345;
	rc = mc_parse_cidrs(s, cl, max < MC_MAX_CIDRS ? max : MC_MAX_CIDRS, &n, &all, err);
	check_err(rc, err);
	if (rc == 0) {
		CHECK(n <= MC_MAX_CIDRS);
		CHECK(!all || n == 0);
		for (i = 0; i < n; i++)
			check_cidr(&cl[i]);
	} else {
		CHECK(n == 0);
	}

	err[0] = '\0';
	rc = mc_parse_mac(s, mac, err);
	check_err(rc, err);
	if (rc == 0) {
		snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
			 mac[3], mac[4], mac[5]);
		CHECK(mc_parse_mac(buf, mac2, err) == 0);
		CHECK(!memcmp(mac, mac2, 6));
	}
	free(s);
	return 0;
}
