/* Address, CIDR, port-list and MAC parsers: see addr.h. Inputs come from pods
 * (untrusted): every path bounds-checks and rejects trailing garbage. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mc_addr_v4(const struct mc_addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == htonl(0xffff);
}

bool mc_addr_zero(const struct mc_addr *a)
{
	return !(a->w[0] | a->w[1] | a->w[2] | a->w[3]);
}

int mc_parse_ip(const char *s, struct mc_addr *out, char err[MC_ERRLEN])
{
	struct in_addr v4;
	struct in6_addr v6;

	if (!s || !*s || strlen(s) >= INET6_ADDRSTRLEN) {
		snprintf(err, MC_ERRLEN, "not an IP address: \"%.60s\"", s ? s : "");
		return -1;
	}
	if (inet_pton(AF_INET, s, &v4) == 1) {
		out->w[0] = out->w[1] = 0;
		out->w[2] = htonl(0xffff);
		out->w[3] = v4.s_addr;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &v6) == 1) {
		memcpy(out->w, &v6, sizeof(out->w));
		return 0;
	}
	snprintf(err, MC_ERRLEN, "not an IP address: \"%.60s\"", s);
	return -1;
}

int mc_parse_cidr(const char *s, struct mc_cidr *res, char err[MC_ERRLEN])
{
	struct mc_cidr tmp, *out = &tmp;
	char ip[INET6_ADDRSTRLEN];
	const char *slash;
	unsigned long plen;
	unsigned int max;
	size_t len;
	char *end;
	int i;

	if (!s) {
		snprintf(err, MC_ERRLEN, "empty CIDR");
		return -1;
	}
	slash = strchr(s, '/');
	len = slash ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof(ip)) {
		snprintf(err, MC_ERRLEN, "not a CIDR: \"%.60s\"", s);
		return -1;
	}
	memcpy(ip, s, len);
	ip[len] = '\0';
	if (mc_parse_ip(ip, &out->addr, err))
		return -1;
	max = mc_addr_v4(&out->addr) ? 32 : 128;
	plen = max;
	if (slash) {
		if (!slash[1] || slash[1] < '0' || slash[1] > '9') {
			snprintf(err, MC_ERRLEN, "bad prefix length in \"%.60s\"", s);
			return -1;
		}
		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (errno || *end || plen > max) {
			snprintf(err, MC_ERRLEN, "bad prefix length in \"%.60s\" (0..%u)", s, max);
			return -1;
		}
	}
	out->prefix_len = (__u32)(max == 32 ? plen + 96 : plen);
	/* clear host bits so equal networks compare equal */
	for (i = 0; i < 4; i++) {
		unsigned int lo = (unsigned int)i * 32, keep;
		uint32_t mask;

		keep = out->prefix_len > lo ? out->prefix_len - lo : 0;
		mask = keep >= 32 ? 0xffffffffu : (keep ? ~(0xffffffffu >> keep) : 0);
		out->addr.w[i] = htonl(ntohl(out->addr.w[i]) & mask);
	}
	*res = tmp; /* only a whole result */
	return 0;
}

/* calls fn on each comma-separated item (no empty items allowed) */
static int split_list(const char *s, int (*fn)(const char *item, void *ctx), void *ctx,
		      char err[MC_ERRLEN])
{
	char item[80];
	const char *p = s;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		while (len && (*p == ' ')) {
			p++;
			len--;
		}
		while (len && p[len - 1] == ' ')
			len--;
		if (len == 0 || len >= sizeof(item)) {
			snprintf(err, MC_ERRLEN, "bad list item near \"%.40s\"", p);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (fn(item, ctx))
			return -1;
		if (!comma)
			break;
		p = comma + 1;
		if (!*p) {
			snprintf(err, MC_ERRLEN, "list ends with a comma");
			return -1;
		}
	}
	return 0;
}

struct port_ctx {
	uint16_t *ports;
	size_t max, n;
	char *err;
};

static int parse_port(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return (errno || *end || *out < 1 || *out > 65535) ? -1 : 0;
}

static int add_ports(const char *item, void *vctx)
{
	struct port_ctx *c = vctx;
	char lo_s[16], *dash;
	unsigned long lo, hi, p;

	if (strlen(item) >= sizeof(lo_s) * 2) {
		snprintf(c->err, MC_ERRLEN, "bad port \"%.20s\"", item);
		return -1;
	}
	dash = strchr(item, '-');
	if (dash) {
		size_t l = (size_t)(dash - item);

		if (l == 0 || l >= sizeof(lo_s)) {
			snprintf(c->err, MC_ERRLEN, "bad port range \"%.20s\"", item);
			return -1;
		}
		memcpy(lo_s, item, l);
		lo_s[l] = '\0';
		if (parse_port(lo_s, &lo) || parse_port(dash + 1, &hi) || hi < lo) {
			snprintf(c->err, MC_ERRLEN, "bad port range \"%.20s\" (1..65535, low-high)", item);
			return -1;
		}
	} else if (parse_port(item, &lo)) {
		snprintf(c->err, MC_ERRLEN, "bad port \"%.20s\" (1..65535)", item);
		return -1;
	} else {
		hi = lo;
	}
	for (p = lo; p <= hi; p++) {
		if (c->n >= c->max) {
			snprintf(c->err, MC_ERRLEN, "too many ports (at most %zu)", c->max);
			return -1;
		}
		c->ports[c->n++] = (uint16_t)p;
	}
	return 0;
}

/* the common frame of both list parsers: NULL, "*" (when allowed) or items */
static int parse_list(const char *s, bool *all, int (*add)(const char *item, void *ctx),
		      void *ctx, char err[MC_ERRLEN])
{
	if (all)
		*all = false;
	if (!s) {
		snprintf(err, MC_ERRLEN, "missing list");
		return -1;
	}
	if (strcmp(s, "*") == 0) {
		if (!all) {
			snprintf(err, MC_ERRLEN, "\"*\" is not allowed here");
			return -1;
		}
		*all = true;
		return 0;
	}
	return split_list(s, add, ctx, err);
}

int mc_parse_ports(const char *s, uint16_t *ports, size_t max, size_t *n, bool *all,
		   char err[MC_ERRLEN])
{
	struct port_ctx c = {.ports = ports, .max = max, .n = 0, .err = err};

	*n = 0;
	if (parse_list(s, all, add_ports, &c, err))
		return -1;
	*n = c.n;
	return 0;
}

struct cidr_ctx {
	struct mc_cidr *cidrs;
	size_t max, n;
	char *err;
};

static int add_cidr(const char *item, void *vctx)
{
	struct cidr_ctx *c = vctx;

	if (c->n >= c->max) {
		snprintf(c->err, MC_ERRLEN, "too many CIDRs (at most %zu)", c->max);
		return -1;
	}
	if (mc_parse_cidr(item, &c->cidrs[c->n], c->err))
		return -1;
	c->n++;
	return 0;
}

int mc_parse_cidrs(const char *s, struct mc_cidr *cidrs, size_t max, size_t *n, bool *all,
		   char err[MC_ERRLEN])
{
	struct cidr_ctx c = {.cidrs = cidrs, .max = max, .n = 0, .err = err};

	*n = 0;
	if (parse_list(s, all, add_cidr, &c, err))
		return -1;
	*n = c.n;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* exactly "hh:hh:hh:hh:hh:hh" (hex digits, either case): no sign, no "0x",
 * no blanks; mac is written only when all of it is valid */
int mc_parse_mac(const char *s, uint8_t mac[6], char err[MC_ERRLEN])
{
	uint8_t b[6];
	int i, hi, lo;

	if (!s || strlen(s) != 17)
		goto bad;
	for (i = 0; i < 6; i++) {
		hi = hexval(s[i * 3]);
		lo = hexval(s[i * 3 + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':'))
			goto bad;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(mac, b, sizeof(b));
	return 0;
bad:
	snprintf(err, MC_ERRLEN, "not a MAC address: \"%.40s\"", s ? s : "");
	return -1;
}

const char *mc_format_ip(const struct mc_addr *a, char *buf, size_t len)
{
	if (mc_addr_v4(a))
		inet_ntop(AF_INET, &a->w[3], buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a->w, buf, (socklen_t)len);
	return buf;
}
