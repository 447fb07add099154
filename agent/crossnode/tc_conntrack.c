/* Handing a live cross-node flow back to the host's conntrack: see tc_conntrack.h. */
#include "crossnode/tc_conntrack.h"

#include <errno.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define EST_TIMEOUT_DEFAULT 432000u /* s: the kernel's nf_conntrack_tcp_timeout_established */

struct mc_ct {
	struct nfct_handle *h;
	uint32_t timeout_s;
};

uint32_t mc_ct_established_timeout_s(void)
{
	FILE *f = fopen("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established", "r");
	unsigned long s = EST_TIMEOUT_DEFAULT;

	if (f) {
		if (fscanf(f, "%lu", &s) != 1 || s == 0 || s > UINT32_MAX)
			s = EST_TIMEOUT_DEFAULT;
		fclose(f);
	}
	return (uint32_t)s;
}

struct mc_ct *mc_ct_open(void)
{
	struct mc_ct *ct = calloc(1, sizeof(*ct));

	if (!ct)
		return NULL;
	ct->h = nfct_open(CONNTRACK, 0);
	if (!ct->h) {
		int err = errno;

		free(ct);
		errno = err;
		return NULL;
	}
	ct->timeout_s = mc_ct_established_timeout_s();
	return ct;
}

void mc_ct_close(struct mc_ct *ct)
{
	if (!ct)
		return;
	nfct_close(ct->h);
	free(ct);
}

/* one direction's tuple: src -> dst */
static void set_tuple(struct nf_conntrack *c, bool reply, bool v4, const struct mc_addr *src,
		      uint16_t sport, const struct mc_addr *dst, uint16_t dport)
{
	nfct_set_attr_u8(c, reply ? ATTR_REPL_L3PROTO : ATTR_ORIG_L3PROTO, v4 ? AF_INET : AF_INET6);
	nfct_set_attr_u8(c, reply ? ATTR_REPL_L4PROTO : ATTR_ORIG_L4PROTO, IPPROTO_TCP);
	if (v4) {
		nfct_set_attr_u32(c, reply ? ATTR_REPL_IPV4_SRC : ATTR_ORIG_IPV4_SRC, src->w[3]);
		nfct_set_attr_u32(c, reply ? ATTR_REPL_IPV4_DST : ATTR_ORIG_IPV4_DST, dst->w[3]);
	} else {
		nfct_set_attr(c, reply ? ATTR_REPL_IPV6_SRC : ATTR_ORIG_IPV6_SRC, src->w);
		nfct_set_attr(c, reply ? ATTR_REPL_IPV6_DST : ATTR_ORIG_IPV6_DST, dst->w);
	}
	nfct_set_attr_u16(c, reply ? ATTR_REPL_PORT_SRC : ATTR_ORIG_PORT_SRC, sport); /* network order */
	nfct_set_attr_u16(c, reply ? ATTR_REPL_PORT_DST : ATTR_ORIG_PORT_DST, dport);
}

int mc_ct_handover(struct mc_ct *ct, const struct mc_tc_flow_key *k, const struct mc_tc_flow *f)
{
	const struct mc_addr *oa = &k->pod, *ra = &k->peer;
	uint16_t op = k->pod_port, rp = k->peer_port;
	struct nf_conntrack *c;
	bool v4 = mc_addr_v4(&k->pod);
	int rc;

	if (k->proto != IPPROTO_TCP || MC_TC_FLOW_CLOSED(f->flags))
		return 0;
	if (v4 != mc_addr_v4(&k->peer))
		return -EINVAL;
	if (f->flags & MC_TC_FLOW_FROM_OVL) { /* the peer sent the SYN */
		oa = &k->peer;
		ra = &k->pod;
		op = k->peer_port;
		rp = k->pod_port;
	}
	c = nfct_new();
	if (!c)
		return -ENOMEM;
	set_tuple(c, false, v4, oa, op, ra, rp);
	set_tuple(c, true, v4, ra, rp, oa, op);
	nfct_set_attr_u8(c, ATTR_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
	nfct_set_attr_u8(c, ATTR_TCP_FLAGS_ORIG, IP_CT_TCP_FLAG_BE_LIBERAL);
	nfct_set_attr_u8(c, ATTR_TCP_MASK_ORIG, IP_CT_TCP_FLAG_BE_LIBERAL);
	nfct_set_attr_u8(c, ATTR_TCP_FLAGS_REPL, IP_CT_TCP_FLAG_BE_LIBERAL);
	nfct_set_attr_u8(c, ATTR_TCP_MASK_REPL, IP_CT_TCP_FLAG_BE_LIBERAL);
	nfct_set_attr_u32(c, ATTR_STATUS, IPS_SEEN_REPLY | IPS_ASSURED);
	nfct_set_attr_u32(c, ATTR_TIMEOUT, ct->timeout_s);
	rc = nfct_query(ct->h, NFCT_Q_CREATE, c) ? -errno : 1;
	nfct_destroy(c);
	return rc == -EEXIST ? 0 : rc;
}
