/*
 * What the running kernel offers, read from its BTF (/sys/kernel/btf/vmlinux):
 * which tracepoints exist and which functions fentry/fexit can attach to. The
 * agent picks its hooks from this (and from trying them), never from version
 * numbers: distributions backport.
 */
#ifndef MESHCUT_AGENT_KERNEL_BTF_H
#define MESHCUT_AGENT_KERNEL_BTF_H

#include <stdbool.h>

/* tp_btf/NAME can attach: the kernel has its btf_trace_NAME typedef */
bool mc_kernel_has_tracepoint(const char *name);

/* NAME is a function in the kernel's BTF (fentry/fexit targets) */
bool mc_kernel_has_func(const char *name);

/* how many parameters the kernel function NAME takes; -1 when it has none in
 * BTF. An fexit program reads its return value after exactly that many
 * arguments: one written for another signature would read garbage. */
int mc_kernel_func_nargs(const char *name);

/* the kernel's BTF could be read at all (without it nothing CO-RE loads) */
bool mc_kernel_has_btf(void);

#endif
