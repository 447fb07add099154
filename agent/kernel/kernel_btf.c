/* Reading the running kernel's BTF once: see kernel_btf.h. */
#include "kernel/kernel_btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdio.h>

static struct btf *vmlinux;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	vmlinux = btf__load_vmlinux_btf();
	if (libbpf_get_error(vmlinux))
		vmlinux = NULL;
}

static struct btf *kernel_btf(void)
{
	pthread_once(&once, load);
	return vmlinux;
}

bool mc_kernel_has_btf(void)
{
	return kernel_btf() != NULL;
}

bool mc_kernel_has_tracepoint(const char *name)
{
	char typedef_name[128];
	struct btf *btf = kernel_btf();

	if (!btf || snprintf(typedef_name, sizeof(typedef_name), "btf_trace_%s", name) >=
			    (int)sizeof(typedef_name))
		return false;
	return btf__find_by_name_kind(btf, typedef_name, BTF_KIND_TYPEDEF) > 0;
}

bool mc_kernel_has_func(const char *name)
{
	return mc_kernel_func_nargs(name) >= 0;
}

int mc_kernel_func_nargs(const char *name)
{
	struct btf *btf = kernel_btf();
	const struct btf_type *func, *proto;
	int id;

	if (!btf || (id = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC)) <= 0)
		return -1;
	func = btf__type_by_id(btf, (__u32)id);
	proto = func ? btf__type_by_id(btf, func->type) : NULL;
	return proto && btf_is_func_proto(proto) ? btf_vlen(proto) : -1;
}
