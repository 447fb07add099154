/* Unit tests of the cross-node shortcut's tc programs (bpf/tc_shortcut.bpf.c),
 * run on crafted packets with BPF_PROG_TEST_RUN. The test enters a network
 * namespace of its own (unshare) and builds there what the programs look up:
 * a "host veth" hv0 (MTU 1450), an overlay VXLAN ovl0 (MTU 1450) with a route
 * to the other node's pod CIDRs 10.244.2.0/24 and fd00:2::/64 through a
 * permanent neighbour, and a second VXLAN other0 that is not an overlay.
 * The FIB lookups are the kernel's own. Needs root and BPF: skipped
 * otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "tc_shortcut.h"
#include "tc_shortcut.skel.h"

#define TC_ACT_REDIRECT 7
#define PASS (-1)

static struct tc_shortcut *skel;
static int hv0, pv0, ovl0, other0;

static const uint8_t POD_MAC[6] = {0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x0a};
static const uint8_t GW_MAC[6] = {0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x01};
static const uint8_t OVL_MAC[6] = {0x0e, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t REMOTE_VTEP_MAC[6] = {0x0e, 0x00, 0x00, 0x00, 0x00, 0x02};

/* ------------------------------------------------------------ packets */

struct pkt {
	uint8_t b[9100];
	size_t len;
};

static uint16_t csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static size_t eth(uint8_t *b, uint16_t type)
{
	memcpy(b, GW_MAC, 6);      /* the pod sends to its gateway */
	memcpy(b + 6, POD_MAC, 6);
	put16(b + 12, type);
	return 14;
}

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10

static size_t tcp(uint8_t *t, uint16_t sport, uint16_t dport, uint8_t flags, size_t payload)
{
	memset(t, 0, 20 + payload);
	put16(t, sport);
	put16(t + 2, dport);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	return 20 + payload;
}

/* IPv4: ihl 5 unless opts; frag: the frag_off field (host order) */
static void ip4_full(struct pkt *p, const char *src, const char *dst, uint8_t proto, uint8_t ttl,
		     uint16_t frag, int opts, size_t l4len)
{
	uint8_t *ip = p->b + 14;
	size_t hl = 20 + (size_t)opts * 4;
	struct in_addr a;

	eth(p->b, 0x0800);
	memmove(ip + hl, ip + 20, l4len); /* l4 was written right after a 20-byte header */
	memset(ip, 0, hl);
	ip[0] = (uint8_t)(0x40 | (hl / 4));
	put16(ip + 2, (uint16_t)(hl + l4len));
	put16(ip + 6, frag);
	ip[8] = ttl;
	ip[9] = proto;
	inet_pton(AF_INET, src, &a);
	memcpy(ip + 12, &a, 4);
	inet_pton(AF_INET, dst, &a);
	memcpy(ip + 16, &a, 4);
	if (opts)
		ip[20] = 1; /* NOPs */
	put16(ip + 10, csum(ip, hl, 0));
	p->len = 14 + hl + l4len;
}

static void tcp4(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
		 uint8_t flags, size_t payload)
{
	size_t l4 = tcp(p->b + 34, sport, dport, flags, payload);

	ip4_full(p, src, dst, 6, 64, 0x4000 /* DF */, 0, l4);
}

static void tcp6(struct pkt *p, const char *src, uint16_t sport, const char *dst, uint16_t dport,
		 uint8_t flags, size_t payload, uint8_t nexthdr)
{
	uint8_t *ip = p->b + 14;
	size_t l4 = tcp(p->b + 54, sport, dport, flags, payload);

	eth(p->b, 0x86dd);
	memset(ip, 0, 40);
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)l4);
	ip[6] = nexthdr;
	ip[7] = 64;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
	p->len = 54 + l4;
}

/* run a program on p; the packet comes back rewritten in out */
struct run {
	int ret;
	struct pkt out;
};

static struct run run_prog(struct bpf_program *prog, int ifindex, const struct pkt *p,
			   uint32_t gso_size)
{
	struct __sk_buff ctx = {.ifindex = (uint32_t)ifindex, .gso_size = gso_size,
				.gso_segs = gso_size ? 2 : 0};
	struct run r = {0};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b, .data_size_in = (uint32_t)p->len,
		    .data_out = r.out.b, .data_size_out = sizeof(r.out.b), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &o);

	assert_int_equal(err, 0);
	r.ret = (int)o.retval;
	r.out.len = o.data_size_out;
	return r;
}

static struct run from_pod(const struct pkt *p)
{
	return run_prog(skel->progs.mc_tc_from_pod, hv0, p, 0);
}

static struct run from_ovl(const struct pkt *p)
{
	return run_prog(skel->progs.mc_tc_from_ovl, ovl0, p, 0);
}

/* ------------------------------------------------------------ maps */

static struct mc_addr addr_of(const char *s)
{
	struct mc_addr a = {0};

	if (strchr(s, ':')) {
		inet_pton(AF_INET6, s, &a);
	} else {
		a.w[2] = htonl(0xffff);
		inet_pton(AF_INET, s, &a.w[3]);
	}
	return a;
}

static void lpm_put(int fd, const char *ip, unsigned prefix, const void *val)
{
	struct mc_tc_lpm_key k = {.addr = addr_of(ip)};

	k.prefixlen = strchr(ip, ':') ? prefix : 96 + prefix;
	assert_int_equal(bpf_map_update_elem(fd, &k, val, BPF_ANY), 0);
}

static void lpm_del(int fd, const char *ip, unsigned prefix)
{
	struct mc_tc_lpm_key k = {.addr = addr_of(ip)};

	k.prefixlen = strchr(ip, ':') ? prefix : 96 + prefix;
	bpf_map_delete_elem(fd, &k);
}

static void set_modes(uint32_t modes)
{
	struct mc_control c = {.magic = MC_CONTROL_MAGIC, .modes = modes};
	uint32_t zero = 0;

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.mc_control), &zero, &c, BPF_ANY), 0);
}

static void set_keep_host_policy(uint32_t on)
{
	struct mc_tc_config c = {.magic = MC_TC_CONFIG_MAGIC, .keep_host_policy = on};
	uint32_t zero = 0;

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.mc_tc_cfg), &zero, &c, BPF_ANY), 0);
}

static struct mc_tc_stats stats(uint32_t prog)
{
	int ncpu = libbpf_num_possible_cpus(), c;
	struct mc_tc_stats *per = calloc((size_t)ncpu, sizeof(*per)), sum = {0};
	size_t i;

	assert_non_null(per);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.mc_tc_stats), &prog, per), 0);
	for (c = 0; c < ncpu; c++)
		for (i = 0; i < sizeof(sum) / 8; i++)
			((uint64_t *)&sum)[i] += ((uint64_t *)&per[c])[i];
	free(per);
	return sum;
}

static void clear_flows(void)
{
	int fd = bpf_map__fd(skel->maps.mc_tc_flows);
	struct mc_tc_flow_key k;

	while (bpf_map_get_next_key(fd, NULL, &k) == 0)
		bpf_map_delete_elem(fd, &k);
}

static bool has_flow(const char *pod, uint16_t pod_port, const char *peer, uint16_t peer_port,
		     struct mc_tc_flow *out)
{
	struct mc_tc_flow_key k = {.pod = addr_of(pod), .peer = addr_of(peer),
				   .pod_port = htons(pod_port), .peer_port = htons(peer_port),
				   .proto = 6};
	struct mc_tc_flow f;

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.mc_tc_flows), &k, &f))
		return false;
	if (out)
		*out = f;
	return true;
}

/* the last pass reason counted for prog: compare snapshots */
static int pass_reason_delta(const struct mc_tc_stats *a, const struct mc_tc_stats *b)
{
	int i, found = -1;

	for (i = 0; i < MC_TC_P_MAX; i++)
		if (b->pass[i] != a->pass[i])
			found = i;
	return found;
}

/* expect prog to hand p on, for reason */
static void expect_pass(bool ovl, const struct pkt *p, int reason)
{
	uint32_t prog = ovl ? MC_TC_PROG_FROM_OVL : MC_TC_PROG_FROM_POD;
	struct mc_tc_stats a = stats(prog), b;
	struct run r = ovl ? from_ovl(p) : from_pod(p);

	b = stats(prog);
	assert_int_equal(r.ret, PASS);
	assert_int_equal(b.passed, a.passed + 1);
	assert_int_equal(b.redirected, a.redirected);
	assert_int_equal(pass_reason_delta(&a, &b), reason);
	/* handed on untouched */
	assert_int_equal(r.out.len, p->len);
	assert_memory_equal(r.out.b, p->b, p->len);
}

static void setup_netns(void)
{
	static const char *const cmds[] = {
		"ip link set lo up",
		"sysctl -q -w net.ipv4.ip_forward=1",
		"sysctl -q -w net.ipv6.conf.all.forwarding=1",
		"ip link add hv0 type veth peer name pv0",
		"ip link set hv0 mtu 1450 up",
		"ip link set pv0 mtu 1450 up",
		"ip link add ovl0 type vxlan id 42 local 192.0.2.1 dstport 4789 nolearning",
		"ip link set ovl0 address 0e:00:00:00:00:01 mtu 1450 up",
		"ip addr add 10.244.1.0/32 dev ovl0",
		"ip route add 10.244.2.0/24 via 10.244.2.0 dev ovl0 onlink",
		"ip neigh add 10.244.2.0 lladdr 0e:00:00:00:00:02 dev ovl0 nud permanent",
		"ip -6 addr add fd00:1::/128 dev ovl0 nodad",
		"ip -6 route add fd00:2::/64 via fe80::2 dev ovl0",
		"ip -6 neigh add fe80::2 lladdr 0e:00:00:00:00:02 dev ovl0 nud permanent",
		"ip link add other0 type vxlan id 43 local 192.0.2.1 dstport 4790 nolearning",
		"ip link set other0 address 0e:00:00:00:00:03 mtu 1450 up",
		"ip route add 10.244.3.0/24 via 10.244.3.0 dev other0 onlink",
		"ip neigh add 10.244.3.0 lladdr 0e:00:00:00:00:04 dev other0 nud permanent",
		/* a CIDR through the overlay whose neighbour is not resolved */
		"ip route add 10.244.4.0/24 via 10.244.4.0 dev ovl0 onlink",
		"ip link add cni0 type bridge",
		"ip link set cni0 up",
		"ip addr add 10.244.1.1/24 dev cni0",
	};
	size_t i;

	if (unshare(CLONE_NEWNET)) {
		perror("unshare(CLONE_NEWNET)");
		exit(1);
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "%s >/dev/null 2>&1", cmds[i]);
		if (system(cmd)) {
			fprintf(stderr, "setup failed: %s\n", cmds[i]);
			exit(1);
		}
	}
	hv0 = (int)if_nametoindex("hv0");
	pv0 = (int)if_nametoindex("pv0");
	ovl0 = (int)if_nametoindex("ovl0");
	other0 = (int)if_nametoindex("other0");
	if (!hv0 || !ovl0 || !other0 || !pv0) {
		fprintf(stderr, "setup: devices missing\n");
		exit(1);
	}
}

static int group_setup(void **state)
{
	struct mc_tc_ep ep = {.ifindex = (uint32_t)hv0, .mtu = 1450, .pod_id = 1, .netns_cookie = 42};
	struct mc_tc_ovl ov = {.mtu = 1450};
	struct mc_tc_remote rem = {.ovl_ifindex = (uint32_t)ovl0};
	struct mc_addr a;
	uint32_t k;

	(void)state;
	skel = tc_shortcut__open_and_load();
	if (!skel) {
		fprintf(stderr, "load tc_shortcut: %s\n", strerror(errno));
		return -1;
	}
	memcpy(ep.mac, POD_MAC, 6);
	memcpy(ep.gw_mac, GW_MAC, 6);
	a = addr_of("10.244.1.10");
	bpf_map_update_elem(bpf_map__fd(skel->maps.mc_tc_eps), &a, &ep, BPF_ANY);
	a = addr_of("fd00:1::10");
	bpf_map_update_elem(bpf_map__fd(skel->maps.mc_tc_eps), &a, &ep, BPF_ANY);
	k = (uint32_t)ovl0;
	bpf_map_update_elem(bpf_map__fd(skel->maps.mc_tc_ovls), &k, &ov, BPF_ANY);
	lpm_put(bpf_map__fd(skel->maps.mc_tc_remote), "10.244.2.0", 24, &rem);
	lpm_put(bpf_map__fd(skel->maps.mc_tc_remote), "10.244.3.0", 24, &rem);
	lpm_put(bpf_map__fd(skel->maps.mc_tc_remote), "10.244.4.0", 24, &rem);
	lpm_put(bpf_map__fd(skel->maps.mc_tc_remote), "fd00:2::", 64, &rem);
	set_modes(MC_MODE_FULL);
	set_keep_host_policy(0);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tc_shortcut__destroy(skel);
	return 0;
}

static int each_setup(void **state)
{
	(void)state;
	clear_flows();
	set_modes(MC_MODE_FULL);
	set_keep_host_policy(0);
	return 0;
}

/* ------------------------------------------------------------ tests */

static void check_ip4_forwarded(const struct run *r, const struct pkt *in, const uint8_t *dmac,
				const uint8_t *smac)
{
	assert_int_equal(r->ret, TC_ACT_REDIRECT);
	assert_int_equal(r->out.len, in->len);
	assert_memory_equal(r->out.b, dmac, 6);
	assert_memory_equal(r->out.b + 6, smac, 6);
	assert_int_equal(r->out.b[14 + 8], in->b[14 + 8] - 1);         /* TTL */
	assert_int_equal(csum(r->out.b + 14, 20, 0), 0);                /* header checksum valid */
	assert_memory_equal(r->out.b + 14 + 9, in->b + 14 + 9, 1);       /* protocol */
	assert_memory_equal(r->out.b + 26, in->b + 26, in->len - 26);    /* the rest untouched */
}

static void test_v4_syn_from_pod_takes_the_flow(void **state)
{
	struct mc_tc_stats a = stats(MC_TC_PROG_FROM_POD), b;
	struct mc_tc_flow f;
	struct pkt p;
	struct run r;

	(void)state;
	tcp4(&p, "10.244.1.10", 40000, "10.244.2.20", 15006, F_SYN, 0);
	r = from_pod(&p);
	/* to the overlay, with the L2 header from the kernel's FIB and neighbour */
	check_ip4_forwarded(&r, &p, REMOTE_VTEP_MAC, OVL_MAC);
	assert_true(has_flow("10.244.1.10", 40000, "10.244.2.20", 15006, &f));
	assert_int_equal(f.ifindex, hv0);
	assert_int_equal(f.flags & MC_TC_FLOW_FROM_OVL, 0);
	b = stats(MC_TC_PROG_FROM_POD);
	assert_int_equal(b.redirected, a.redirected + 1);
	assert_int_equal(b.flows, a.flows + 1);
	assert_int_equal(b.bytes, a.bytes + p.len);

	/* the rest of the flow follows, data and FIN included */
	tcp4(&p, "10.244.1.10", 40000, "10.244.2.20", 15006, F_ACK, 1000);
	r = from_pod(&p);
	check_ip4_forwarded(&r, &p, REMOTE_VTEP_MAC, OVL_MAC);
	tcp4(&p, "10.244.1.10", 40000, "10.244.2.20", 15006, F_ACK | F_FIN, 0);
	r = from_pod(&p);
	check_ip4_forwarded(&r, &p, REMOTE_VTEP_MAC, OVL_MAC);
	assert_true(has_flow("10.244.1.10", 40000, "10.244.2.20", 15006, &f));
	assert_int_equal(f.flags & MC_TC_FLOW_FIN_POD, MC_TC_FLOW_FIN_POD);
}

/* a packet of a flow the host path saw start stays on the host path */
static void test_mid_flow_is_never_taken(void **state)
{
	struct pkt p;

	(void)state;
	tcp4(&p, "10.244.1.10", 40001, "10.244.2.20", 15006, F_ACK, 100);
	expect_pass(false, &p, MC_TC_P_NO_FLOW);
	tcp4(&p, "10.244.1.10", 40001, "10.244.2.20", 15006, F_SYN | F_ACK, 0);
	expect_pass(false, &p, MC_TC_P_NO_FLOW);
	tcp4(&p, "10.244.1.10", 40001, "10.244.2.20", 15006, F_ACK | F_FIN, 0);
	expect_pass(false, &p, MC_TC_P_NO_FLOW);
	tcp4(&p, "10.244.1.10", 40001, "10.244.2.20", 15006, F_RST, 0);
	expect_pass(false, &p, MC_TC_P_NO_FLOW);
	assert_false(has_flow("10.244.1.10", 40001, "10.244.2.20", 15006, NULL));
}

/* service VIPs, node addresses, local pods, the outside: never taken */
static void test_non_remote_destinations(void **state)
{
	const char *dsts[] = {"10.96.0.10", "192.168.255.2", "10.244.1.20", "10.244.1.0", "8.8.8.8"};
	struct pkt p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(dsts) / sizeof(dsts[0]); i++) {
		tcp4(&p, "10.244.1.10", 40002, dsts[i], 80, F_SYN, 0);
		expect_pass(false, &p, MC_TC_P_NOT_REMOTE);
		assert_false(has_flow("10.244.1.10", 40002, dsts[i], 80, NULL));
	}
	/* a later packet of such a flow: one table lookup, counted as no flow
	 * (its reason was counted at its SYN) */
	tcp4(&p, "10.244.1.10", 40002, "10.244.1.20", 80, F_ACK, 10);
	expect_pass(false, &p, MC_TC_P_NO_FLOW);
	/* inside a remote CIDR, but the host routes it elsewhere */
	tcp4(&p, "10.244.1.10", 40002, "10.244.3.7", 80, F_SYN, 0);
	expect_pass(false, &p, MC_TC_P_NOT_OVERLAY);
	/* through the overlay, neighbour unresolved: the SYN goes the host way */
	tcp4(&p, "10.244.1.10", 40002, "10.244.4.7", 80, F_SYN, 0);
	expect_pass(false, &p, MC_TC_P_FIB);
	assert_false(has_flow("10.244.1.10", 40002, "10.244.4.7", 80, NULL));
}

/* only a registered pod's own address, on its own veth */
static void test_unregistered_sources(void **state)
{
	struct pkt p;
	struct run r;

	(void)state;
	tcp4(&p, "10.244.1.99", 40003, "10.244.2.20", 15006, F_SYN, 0);
	expect_pass(false, &p, MC_TC_P_NOT_OURS);
	tcp4(&p, "10.244.1.10", 40003, "10.244.2.20", 15006, F_SYN, 0);
	r = run_prog(skel->progs.mc_tc_from_pod, pv0, &p, 0); /* another device */
	assert_int_equal(r.ret, PASS);
	assert_false(has_flow("10.244.1.10", 40003, "10.244.2.20", 15006, NULL));
	/* a taken flow's 4-tuple from another veth is not that flow */
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
	tcp4(&p, "10.244.1.10", 40003, "10.244.2.20", 15006, F_ACK, 10);
	r = run_prog(skel->progs.mc_tc_from_pod, pv0, &p, 0);
	assert_int_equal(r.ret, PASS);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
}

static void test_mode_and_policy_apply_to_new_flows(void **state)
{
	struct mc_tc_policy host = {.action = MC_TC_POLICY_HOST}, sc = {.action = MC_TC_POLICY_SHORTCUT};
	int pfd = bpf_map__fd(skel->maps.mc_tc_policy);
	struct pkt p;
	struct run r;

	(void)state;
	/* a flow taken while the mode was on keeps its decision */
	tcp4(&p, "10.244.1.10", 40004, "10.244.2.20", 15006, F_SYN, 0);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
	set_modes(MC_MODE_INTRA | MC_MODE_NODE);
	tcp4(&p, "10.244.1.10", 40005, "10.244.2.20", 15006, F_SYN, 0);
	expect_pass(false, &p, MC_TC_P_MODE);
	tcp4(&p, "10.244.1.10", 40004, "10.244.2.20", 15006, F_ACK, 10);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
	set_modes(MC_MODE_FULL);

	/* keep host policy: new flows stay on the host path */
	set_keep_host_policy(1);
	tcp4(&p, "10.244.1.10", 40006, "10.244.2.20", 15006, F_SYN, 0);
	expect_pass(false, &p, MC_TC_P_POLICY);
	/* ... except where a CIDR says shortcut */
	lpm_put(pfd, "10.244.2.0", 24, &sc);
	r = from_pod(&p);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	/* a host CIDR wins over a shortcut CIDR, whichever end it names */
	set_keep_host_policy(0);
	lpm_put(pfd, "10.244.1.10", 32, &host);
	tcp4(&p, "10.244.1.10", 40007, "10.244.2.20", 15006, F_SYN, 0);
	expect_pass(false, &p, MC_TC_P_POLICY);
	lpm_del(pfd, "10.244.1.10", 32);
	lpm_put(pfd, "10.244.2.20", 32, &host);
	expect_pass(false, &p, MC_TC_P_POLICY);
	/* ... from the overlay too */
	tcp4(&p, "10.244.2.20", 40007, "10.244.1.10", 15006, F_SYN, 0);
	expect_pass(true, &p, MC_TC_P_POLICY);
	lpm_del(pfd, "10.244.2.20", 32);
	lpm_del(pfd, "10.244.2.0", 24);
	/* no configuration yet: nothing is taken */
	{
		struct mc_tc_config c = {0};
		uint32_t zero = 0;

		bpf_map_update_elem(bpf_map__fd(skel->maps.mc_tc_cfg), &zero, &c, BPF_ANY);
		tcp4(&p, "10.244.1.10", 40008, "10.244.2.20", 15006, F_SYN, 0);
		expect_pass(false, &p, MC_TC_P_MODE);
	}
}

/* a closed flow's 4-tuple again: decided anew at its SYN */
static void test_reused_tuple_is_decided_again(void **state)
{
	struct pkt p;

	(void)state;
	tcp4(&p, "10.244.1.10", 40010, "10.244.2.20", 15006, F_SYN, 0);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
	tcp4(&p, "10.244.1.10", 40010, "10.244.2.20", 15006, F_RST, 0);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
	set_modes(MC_MODE_INTRA);
	tcp4(&p, "10.244.1.10", 40010, "10.244.2.20", 15006, F_SYN, 0);
	expect_pass(false, &p, MC_TC_P_MODE);
	assert_false(has_flow("10.244.1.10", 40010, "10.244.2.20", 15006, NULL));
	/* and a SYN retransmitted on a live flow keeps it */
	set_modes(MC_MODE_FULL);
	tcp4(&p, "10.244.1.10", 40011, "10.244.2.20", 15006, F_SYN, 0);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
	set_modes(0);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
}

static void test_not_ip_vlan_arp(void **state)
{
	struct pkt p;
	size_t n;

	(void)state;
	/* ARP request */
	memset(&p, 0, sizeof(p));
	n = eth(p.b, 0x0806);
	memcpy(p.b, "\xff\xff\xff\xff\xff\xff", 6);
	p.b[n + 1] = 1;
	p.b[n + 2] = 8;
	p.b[n + 4] = 6;
	p.b[n + 5] = 4;
	p.b[n + 7] = 1;
	p.len = n + 28;
	expect_pass(false, &p, MC_TC_P_NOT_IP);
	expect_pass(true, &p, MC_TC_P_NOT_IP);
	/* an 802.1Q tagged TCP SYN that would otherwise be taken */
	tcp4(&p, "10.244.1.10", 40020, "10.244.2.20", 15006, F_SYN, 0);
	memmove(p.b + 16, p.b + 12, p.len - 12);
	put16(p.b + 12, 0x8100);
	put16(p.b + 14, 100);
	p.len += 4;
	expect_pass(false, &p, MC_TC_P_NOT_IP);
	assert_false(has_flow("10.244.1.10", 40020, "10.244.2.20", 15006, NULL));
}

static void test_fragments_options_udp_ttl(void **state)
{
	struct pkt p;
	size_t l4;

	(void)state;
	/* first fragment (MF), and a later one (offset) */
	l4 = tcp(p.b + 34, 40030, 15006, F_SYN, 0);
	ip4_full(&p, "10.244.1.10", "10.244.2.20", 6, 64, 0x2000, 0, l4);
	expect_pass(false, &p, MC_TC_P_FRAGMENT);
	l4 = tcp(p.b + 34, 40030, 15006, F_SYN, 0);
	ip4_full(&p, "10.244.1.10", "10.244.2.20", 6, 64, 0x0010, 0, l4);
	expect_pass(false, &p, MC_TC_P_FRAGMENT);
	/* IPv4 options */
	l4 = tcp(p.b + 34, 40030, 15006, F_SYN, 0);
	ip4_full(&p, "10.244.1.10", "10.244.2.20", 6, 64, 0x4000, 1, l4);
	expect_pass(false, &p, MC_TC_P_IP_OPTIONS);
	/* UDP */
	memset(p.b + 34, 0, 8);
	put16(p.b + 34, 5353);
	put16(p.b + 36, 53);
	put16(p.b + 38, 8);
	ip4_full(&p, "10.244.1.10", "10.244.2.20", 17, 64, 0, 0, 8);
	expect_pass(false, &p, MC_TC_P_NOT_TCP);
	assert_false(has_flow("10.244.1.10", 40030, "10.244.2.20", 15006, NULL));
	/* TTL that would expire on the way: the host answers (time exceeded) */
	tcp4(&p, "10.244.1.10", 40031, "10.244.2.20", 15006, F_SYN, 0);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
	l4 = tcp(p.b + 34, 40031, 15006, F_ACK, 10);
	ip4_full(&p, "10.244.1.10", "10.244.2.20", 6, 1, 0x4000, 0, l4);
	expect_pass(false, &p, MC_TC_P_TTL);
	/* IPv6 fragment header, other extension headers: handed on */
	tcp6(&p, "fd00:1::10", 40032, "fd00:2::20", 15006, F_SYN, 0, 44);
	expect_pass(false, &p, MC_TC_P_FRAGMENT);
	tcp6(&p, "fd00:1::10", 40032, "fd00:2::20", 15006, F_SYN, 0, 0);
	expect_pass(false, &p, MC_TC_P_IP_OPTIONS);
}

/* PMTU: a segment larger than the overlay route's MTU goes the host way,
 * which drops it and sends ICMP frag-needed back to the pod */
static void test_frag_needed(void **state)
{
	struct mc_tc_stats a, b;
	struct pkt p;
	struct run r;

	(void)state;
	tcp4(&p, "10.244.1.10", 40040, "10.244.2.20", 15006, F_SYN, 0);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
	tcp4(&p, "10.244.1.10", 40040, "10.244.2.20", 15006, F_ACK, 1450 - 40);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT); /* exactly the MTU */
	tcp4(&p, "10.244.1.10", 40040, "10.244.2.20", 15006, F_ACK, 1451 - 40);
	expect_pass(false, &p, MC_TC_P_FRAG_NEEDED);
	/* a SYN that does not fit is not taken */
	tcp4(&p, "10.244.1.10", 40041, "10.244.2.20", 15006, F_SYN, 1500);
	expect_pass(false, &p, MC_TC_P_FRAG_NEEDED);
	assert_false(has_flow("10.244.1.10", 40041, "10.244.2.20", 15006, NULL));
	/* GSO: each segment must fit, however large the packet */
	tcp4(&p, "10.244.1.10", 40040, "10.244.2.20", 15006, F_ACK, 2 * 1410);
	r = run_prog(skel->progs.mc_tc_from_pod, hv0, &p, 1410);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	a = stats(MC_TC_PROG_FROM_POD);
	r = run_prog(skel->progs.mc_tc_from_pod, hv0, &p, 1411);
	b = stats(MC_TC_PROG_FROM_POD);
	assert_int_equal(r.ret, PASS);
	assert_int_equal(pass_reason_delta(&a, &b), MC_TC_P_FRAG_NEEDED);
	/* into a pod: larger than its veth's MTU */
	tcp4(&p, "10.244.2.20", 15006, "10.244.1.10", 40042, F_SYN, 0);
	assert_int_equal(from_ovl(&p).ret, TC_ACT_REDIRECT);
	tcp4(&p, "10.244.2.20", 15006, "10.244.1.10", 40042, F_ACK, 1451 - 40);
	expect_pass(true, &p, MC_TC_P_FRAG_NEEDED);
}

/* ICMP errors about a taken flow follow it (the host's conntrack does not know
 * the flow and would call them INVALID); others go the host way */
static void icmp4_error(struct pkt *p, const char *src, const char *dst, uint8_t type,
			uint8_t code, const struct pkt *about)
{
	uint8_t *icmp = p->b + 34;
	size_t inner = 20 + 8;

	memset(icmp, 0, 8);
	icmp[0] = type;
	icmp[1] = code;
	put16(icmp + 6, 1400); /* next-hop MTU */
	memcpy(icmp + 8, about->b + 14, inner);
	put16(icmp + 2, csum(icmp, 8 + inner, 0));
	ip4_full(p, src, dst, 1, 64, 0, 0, 8 + inner);
}

static void test_icmp_errors(void **state)
{
	struct pkt p, about;
	struct run r;

	(void)state;
	/* a flow the pod started */
	tcp4(&about, "10.244.1.10", 40050, "10.244.2.20", 15006, F_SYN, 0);
	assert_int_equal(from_pod(&about).ret, TC_ACT_REDIRECT);
	tcp4(&about, "10.244.1.10", 40050, "10.244.2.20", 15006, F_ACK, 1000);
	/* frag-needed from a router on the way (outside any pod CIDR) */
	icmp4_error(&p, "192.168.255.2", "10.244.1.10", 3, 4, &about);
	r = from_ovl(&p);
	check_ip4_forwarded(&r, &p, POD_MAC, GW_MAC);
	/* about a flow that is not on the shortcut */
	tcp4(&about, "10.244.1.10", 40051, "10.244.2.20", 15006, F_ACK, 1000);
	icmp4_error(&p, "192.168.255.2", "10.244.1.10", 3, 4, &about);
	expect_pass(true, &p, MC_TC_P_NOT_TCP);
	/* an echo request is not an error */
	icmp4_error(&p, "10.244.2.20", "10.244.1.10", 8, 0, &about);
	expect_pass(true, &p, MC_TC_P_NOT_TCP);
	/* the pod's own ICMP error about a packet of a taken flow it received */
	tcp4(&about, "10.244.2.20", 15006, "10.244.1.10", 40050, F_ACK, 10);
	icmp4_error(&p, "10.244.1.10", "10.244.2.20", 3, 3, &about);
	r = from_pod(&p);
	check_ip4_forwarded(&r, &p, REMOTE_VTEP_MAC, OVL_MAC);
}

static void test_ipv6(void **state)
{
	struct pkt p, e;
	struct run r;
	uint8_t *icmp;

	(void)state;
	tcp6(&p, "fd00:1::10", 40060, "fd00:2::20", 15006, F_SYN, 0, 6);
	r = from_pod(&p);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	assert_memory_equal(r.out.b, REMOTE_VTEP_MAC, 6);
	assert_memory_equal(r.out.b + 6, OVL_MAC, 6);
	assert_int_equal(r.out.b[14 + 7], 63);                       /* hop limit */
	assert_memory_equal(r.out.b + 22, p.b + 22, p.len - 22);      /* addresses, TCP */
	assert_true(has_flow("fd00:1::10", 40060, "fd00:2::20", 15006, NULL));
	/* the answer, from the overlay */
	tcp6(&p, "fd00:2::20", 15006, "fd00:1::10", 40060, F_SYN | F_ACK, 0, 6);
	r = from_ovl(&p);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	assert_memory_equal(r.out.b, POD_MAC, 6);
	assert_memory_equal(r.out.b + 6, GW_MAC, 6);
	assert_int_equal(r.out.b[14 + 7], 63);
	/* too big for the route */
	tcp6(&p, "fd00:1::10", 40060, "fd00:2::20", 15006, F_ACK, 1450 - 59, 6);
	expect_pass(false, &p, MC_TC_P_FRAG_NEEDED);
	/* not remote */
	tcp6(&p, "fd00:1::10", 40061, "fd00:9::20", 15006, F_SYN, 0, 6);
	expect_pass(false, &p, MC_TC_P_NOT_REMOTE);
	/* ICMPv6 packet too big about the taken flow, from the overlay */
	tcp6(&p, "fd00:1::10", 40060, "fd00:2::20", 15006, F_ACK, 0, 6);
	memset(&e, 0, sizeof(e));
	eth(e.b, 0x86dd);
	e.b[14] = 0x60;
	put16(e.b + 18, 8 + 40 + 20);
	e.b[20] = 58;
	e.b[21] = 64;
	inet_pton(AF_INET6, "fd00:2::1", e.b + 22);
	inet_pton(AF_INET6, "fd00:1::10", e.b + 38);
	icmp = e.b + 54;
	icmp[0] = 2; /* packet too big */
	memcpy(icmp + 8, p.b + 14, 60);
	e.len = 54 + 8 + 60;
	r = from_ovl(&e);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	/* neighbour discovery is not ours */
	icmp[0] = 135;
	expect_pass(true, &e, MC_TC_P_NOT_TCP);
}

/* from the overlay: only flows for a registered local pod, from another
 * node's pod CIDR */
static void test_from_overlay(void **state)
{
	struct mc_tc_flow f;
	struct pkt p;
	struct run r;

	(void)state;
	tcp4(&p, "10.244.2.20", 41000, "10.244.1.10", 15006, F_SYN, 0);
	r = from_ovl(&p);
	check_ip4_forwarded(&r, &p, POD_MAC, GW_MAC); /* into the pod, with its MAC */
	assert_true(has_flow("10.244.1.10", 15006, "10.244.2.20", 41000, &f));
	assert_int_equal(f.flags & MC_TC_FLOW_FROM_OVL, MC_TC_FLOW_FROM_OVL);
	/* the pod's answer goes straight to the overlay */
	tcp4(&p, "10.244.1.10", 15006, "10.244.2.20", 41000, F_SYN | F_ACK, 0);
	r = from_pod(&p);
	check_ip4_forwarded(&r, &p, REMOTE_VTEP_MAC, OVL_MAC);
	/* not a registered pod */
	tcp4(&p, "10.244.2.20", 41001, "10.244.1.77", 15006, F_SYN, 0);
	expect_pass(true, &p, MC_TC_P_NOT_OURS);
	/* the node itself */
	tcp4(&p, "10.244.2.20", 41001, "10.244.1.0", 22, F_SYN, 0);
	expect_pass(true, &p, MC_TC_P_NOT_OURS);
	/* from outside every pod CIDR (a NAT'd or routed source): host path */
	tcp4(&p, "192.168.255.2", 41002, "10.244.1.10", 15006, F_SYN, 0);
	expect_pass(true, &p, MC_TC_P_NOT_REMOTE);
	/* mid-flow */
	tcp4(&p, "10.244.2.20", 41003, "10.244.1.10", 15006, F_ACK, 5);
	expect_pass(true, &p, MC_TC_P_NO_FLOW);
	/* on a device that is not an overlay */
	tcp4(&p, "10.244.2.20", 41004, "10.244.1.10", 15006, F_SYN, 0);
	r = run_prog(skel->progs.mc_tc_from_ovl, other0, &p, 0);
	assert_int_equal(r.ret, PASS);
}

/* the pod's new veth and MAC, as soon as its registration says so */
static void test_endpoint_update(void **state)
{
	static const uint8_t NEW_MAC[6] = {0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x99};
	int fd = bpf_map__fd(skel->maps.mc_tc_eps);
	struct mc_addr a = addr_of("10.244.1.10");
	struct mc_tc_ep ep, old;
	struct pkt p;
	struct run r;

	(void)state;
	assert_int_equal(bpf_map_lookup_elem(fd, &a, &old), 0);
	ep = old;
	ep.ifindex = (uint32_t)pv0;
	memcpy(ep.mac, NEW_MAC, 6);
	assert_int_equal(bpf_map_update_elem(fd, &a, &ep, BPF_ANY), 0);
	tcp4(&p, "10.244.2.20", 41010, "10.244.1.10", 15006, F_SYN, 0);
	r = from_ovl(&p);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	assert_memory_equal(r.out.b, NEW_MAC, 6);
	/* the old veth no longer speaks for the pod */
	tcp4(&p, "10.244.1.10", 41011, "10.244.2.20", 15006, F_SYN, 0);
	expect_pass(false, &p, MC_TC_P_NOT_OURS);
	r = run_prog(skel->progs.mc_tc_from_pod, pv0, &p, 0);
	assert_int_equal(r.ret, TC_ACT_REDIRECT);
	assert_int_equal(bpf_map_update_elem(fd, &a, &old, BPF_ANY), 0);
}

/* a full flow table: new flows go the host way, live ones keep going */
static void test_table_full(void **state)
{
	int fd = bpf_map__fd(skel->maps.mc_tc_flows);
	struct mc_tc_flow v = {0};
	struct mc_tc_flow_key k = {.pod = addr_of("10.244.1.200"), .peer = addr_of("10.244.2.200"),
				   .proto = 6};
	struct pkt p;
	uint32_t i;

	(void)state;
	tcp4(&p, "10.244.1.10", 40070, "10.244.2.20", 15006, F_SYN, 0);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
	for (i = 0; i < MC_TC_MAX_FLOWS; i++) {
		k.pod_port = (uint16_t)i;
		k.peer_port = (uint16_t)(i >> 16);
		if (bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST))
			break;
	}
	tcp4(&p, "10.244.1.10", 40071, "10.244.2.20", 15006, F_SYN, 0);
	expect_pass(false, &p, MC_TC_P_TABLE_FULL);
	tcp4(&p, "10.244.1.10", 40070, "10.244.2.20", 15006, F_ACK, 100);
	assert_int_equal(from_pod(&p).ret, TC_ACT_REDIRECT);
	clear_flows();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_v4_syn_from_pod_takes_the_flow, each_setup),
		cmocka_unit_test_setup(test_mid_flow_is_never_taken, each_setup),
		cmocka_unit_test_setup(test_non_remote_destinations, each_setup),
		cmocka_unit_test_setup(test_unregistered_sources, each_setup),
		cmocka_unit_test_setup(test_mode_and_policy_apply_to_new_flows, each_setup),
		cmocka_unit_test_setup(test_reused_tuple_is_decided_again, each_setup),
		cmocka_unit_test_setup(test_not_ip_vlan_arp, each_setup),
		cmocka_unit_test_setup(test_fragments_options_udp_ttl, each_setup),
		cmocka_unit_test_setup(test_frag_needed, each_setup),
		cmocka_unit_test_setup(test_icmp_errors, each_setup),
		cmocka_unit_test_setup(test_ipv6, each_setup),
		cmocka_unit_test_setup(test_from_overlay, each_setup),
		cmocka_unit_test_setup(test_endpoint_update, each_setup),
		cmocka_unit_test_setup(test_table_full, each_setup),
	};

	if (geteuid() != 0) {
		printf("# SKIP test_tc_shortcut needs root (network namespace, BPF)\n");
		return 0;
	}
	setup_netns();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
