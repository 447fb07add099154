# meshcut: take the Linux network stack out of an Istio sidecar mesh.
#
#   make deps     install every Debian package the project needs (idempotent)
#   make          build everything out of tree into build/
#   make test     deps + build + every test (needs root)
#   make demo     deps + build + the virtual-cluster demo (needs root)
#   make bench    the full benchmark (long); make bench-quick (minutes)
#   V=1           show the commands
#
# Each folder brings its own build.mk: bpf/ (kernel side), lib/ (shared user-space
# code), agent/ (node agent + CLI), injector/ (init helper + webhook), tests/.

BUILD   ?= build
CC      ?= gcc
CLANG   ?= clang
BPFTOOL ?= bpftool
ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# user space: C11, every warning an error
CFLAGS   ?= -O2 -g
# EXTRA_DEFS: e.g. the layout-changed agent the upgrade tests build
CFLAGS   += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP \
            -I$(BUILD) -I$(BUILD)/bpf -Ilib -Ibpf -Iagent $(EXTRA_DEFS)
LDLIBS_BPF  := -lbpf -lelf -lz
LDLIBS_JSON := -ljansson
LDLIBS_HTTP := -lmicrohttpd
LDLIBS_CURL := -lcurl
LDLIBS_CT   := -lnetfilter_conntrack

# kernel side: BTF CO-RE. Kernel types come from bpf/kernel.h (UAPI headers and
# preserve_access_index declarations), never from the build machine's kernel:
# one set of objects loads on every supported kernel
MULTIARCH  := $(shell $(CC) -dumpmachine)
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
              -I$(BUILD) -Ibpf -idirafter /usr/include/$(MULTIARCH) $(EXTRA_DEFS)

.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:
.PHONY: all deps test unit-test integration-test demo bench bench-quick clean fuzz

all:

deps:
	$(Q)mk/deps.sh

$(BUILD)/vmlinux.h:
	$(call msg,VMLINUX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/config.h: mk/probe-libbpf.sh
	$(call msg,PROBE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)mk/probe-libbpf.sh "$(CC)" $@

# BPF object -> linked object -> skeleton
$(BUILD)/bpf/%.tmp.o: bpf/%.bpf.c $(wildcard bpf/*.h)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/bpf/%.bpf.o: $(BUILD)/bpf/%.tmp.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

# user-space objects mirror the source tree under build/obj
$(BUILD)/obj/%.o: %.c $(BUILD)/config.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

include bpf/build.mk
include lib/build.mk
include agent/build.mk
include injector/build.mk
include tests/build.mk
include tests/fuzz/build.mk

# install: the four binaries into $(DESTDIR)$(PREFIX)/bin (the Dockerfile uses it)
PREFIX ?= /usr/local
MESHCUT_BINS := $(BUILD)/meshcut-agent $(BUILD)/meshcut $(BUILD)/meshcut-init $(BUILD)/meshcut-webhook
.PHONY: install
install: $(MESHCUT_BINS)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX)/bin)
	$(Q)install -d $(DESTDIR)$(PREFIX)/bin
	$(Q)install -m 0755 $(MESHCUT_BINS) $(DESTDIR)$(PREFIX)/bin/

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run-all

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/demo

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/bench/bench --suite full

fuzz: fuzz-build
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) tests/fuzz/run $(FUZZ_BINS)

bench-quick: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/bench/bench --suite quick

clean:
	$(Q)rm -rf $(BUILD)/bpf $(BUILD)/obj $(BUILD)/bin $(BUILD)/*.h $(BUILD)/meshcut*

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
