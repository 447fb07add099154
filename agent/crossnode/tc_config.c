/* The cross-node shortcut's node configuration: see tc_config.h. */
#include "crossnode/tc_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

static int parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = {"on", "true", "1", "yes"}, *const no[] = {"off", "false", "0", "no", ""};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!strcasecmp(s, yes[i]))
			return *v = true, 0;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (!strcasecmp(s, no[i]))
			return *v = false, 0;
	return -1;
}

static int parse_cidrs(const char *name, const char *s, struct mc_cidr *out, size_t *n,
		       struct mc_tc_opts *o)
{
	char err[MC_ERRLEN];
	bool all = false;

	if (mc_parse_cidrs(s, out, MC_TC_CFG_CIDRS, n, &all, err)) {
		snprintf(o->error, sizeof(o->error), "%s: %s", name, err);
		return -1;
	}
	if (all) { /* "*": every address of both families */
		memset(out, 0, sizeof(*out));
		*n = 1;
	}
	return 0;
}

static int parse_overlays(const char *s, struct mc_tc_opts *o)
{
	char tmp[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(tmp)) {
		snprintf(o->error, sizeof(o->error), "MESHCUT_CROSS_OVERLAY: too long");
		return -1;
	}
	strcpy(tmp, s);
	for (tok = strtok_r(tmp, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (strlen(tok) >= sizeof(o->overlays[0]) || o->n_overlays >= MC_TC_CFG_OVERLAYS) {
			snprintf(o->error, sizeof(o->error),
				 "MESHCUT_CROSS_OVERLAY: \"%.20s\": at most %d names of at most 15 characters",
				 tok, MC_TC_CFG_OVERLAYS);
			return -1;
		}
		strcpy(o->overlays[o->n_overlays++], tok);
	}
	return 0;
}

void mc_tc_opts_parse(const char *keep, const char *host_cidrs, const char *shortcut_cidrs,
		      const char *overlays, struct mc_tc_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (keep && parse_bool(keep, &o->keep_host_policy)) {
		snprintf(o->error, sizeof(o->error),
			 "MESHCUT_CROSS_KEEP_HOST_POLICY: \"%.40s\" is not on or off", keep);
		goto fail;
	}
	if (host_cidrs && parse_cidrs("MESHCUT_CROSS_HOST_CIDRS", host_cidrs, o->host_cidrs,
				      &o->n_host, o))
		goto fail;
	if (shortcut_cidrs && parse_cidrs("MESHCUT_CROSS_SHORTCUT_CIDRS", shortcut_cidrs,
					  o->shortcut_cidrs, &o->n_shortcut, o))
		goto fail;
	if (overlays && parse_overlays(overlays, o))
		goto fail;
	return;
fail:
	/* fail closed: the host path (and its policy) for every new flow */
	o->failed_closed = true;
	o->keep_host_policy = true;
	o->n_shortcut = 0;
}

void mc_tc_opts_from_env(struct mc_tc_opts *o)
{
	mc_tc_opts_parse(getenv("MESHCUT_CROSS_KEEP_HOST_POLICY"), getenv("MESHCUT_CROSS_HOST_CIDRS"),
			 getenv("MESHCUT_CROSS_SHORTCUT_CIDRS"), getenv("MESHCUT_CROSS_OVERLAY"), o);
}

const char *mc_tc_cidr_string(const struct mc_cidr *c, char *buf, size_t len)
{
	char ip[64];
	bool v4 = mc_addr_v4(&c->addr) && c->prefix_len >= 96;

	if (c->prefix_len == 0) {
		snprintf(buf, len, "*");
		return buf;
	}
	snprintf(buf, len, "%s/%u", mc_format_ip(&c->addr, ip, sizeof(ip)),
		 v4 ? c->prefix_len - 96 : c->prefix_len);
	return buf;
}
