/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel types meshcut's BPF programs use, and nothing else. Not dumped
 * from a kernel: the programs are built once, whatever kernel the build
 * machine runs, and the same objects load on every kernel meshcut supports
 * (Linux 6.1 LTS and newer).
 *
 *  - What the BPF ABI defines (program contexts, helper structs, packet
 *    headers, constants) comes from the UAPI headers, which never change
 *    incompatibly.
 *  - Kernel-internal structs are declared with only the members the programs
 *    read, under preserve_access_index: each access is a CO-RE relocation that
 *    libbpf resolves against the running kernel's BTF at load time, so their
 *    offsets here do not matter (their names and types do).
 *
 * __VMLINUX_H__ makes libbpf's bpf_tracing.h use the kernel's pt_regs member
 * names, as it does with a generated vmlinux.h.
 */
#ifndef MESHCUT_KERNEL_H
#define MESHCUT_KERNEL_H
#define __VMLINUX_H__

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <stdbool.h>
#include <stddef.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct net {
	__u64 net_cookie;
};

typedef struct {
	struct net *net;
} possible_net_t;

typedef struct {
	__u32 val;
} kuid_t;

/* members of anonymous unions and structs in the kernel are matched by name */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
	kuid_t sk_uid;
	int sk_rcvlowat;
	void *sk_user_data;
};

struct inet_sock {
	struct sock sk;
};

struct tcp_ulp_ops;

struct inet_connection_sock {
	struct inet_sock icsk_inet;
	const struct tcp_ulp_ops *icsk_ulp_ops;
};

struct tcp_sock {
	struct inet_connection_sock inet_conn;
	__u32 rcv_nxt;
	__u32 copied_seq;
	__u32 snd_una;
	__u32 write_seq;
	__u64 bytes_received;
	__u64 bytes_acked;
};

struct socket {
	struct sock *sk;
};

/* an iter/tcp program's context (wake.bpf.c) */
struct bpf_iter_meta;
struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
};

struct msghdr;
struct page;

struct nsproxy {
	struct net *net_ns;
};

struct task_struct {
	struct nsproxy *nsproxy;
};

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
#elif defined(__TARGET_ARCH_arm64)
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};

struct pt_regs {
	union {
		struct user_pt_regs user_regs;
		struct {
			__u64 regs[31];
			__u64 sp;
			__u64 pc;
			__u64 pstate;
		};
	};
	__u64 orig_x0;
	__s32 syscallno;
};
#else
#error "pt_regs: add this architecture's layout (only its member names matter)"
#endif

#pragma clang attribute pop

#endif
