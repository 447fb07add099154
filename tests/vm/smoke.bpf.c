// SPDX-License-Identifier: GPL-2.0
/* Two do-nothing programs for tests/vm/smoke: proof that the 6.1 kernel in the
 * VM loads BPF built on the host and attaches it where meshcut does (a cgroup's
 * sockops hook, a tc clsact hook through cls_bpf). UAPI headers only: no
 * vmlinux.h, nothing that depends on the kernel's types. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("sockops")
int vm_smoke_sockops(struct bpf_sock_ops *ops)
{
	return 1;
}

SEC("tc")
int vm_smoke_tc(struct __sk_buff *skb)
{
	return 0; /* TC_ACT_OK */
}

char LICENSE[] SEC("license") = "GPL";
