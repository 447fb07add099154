# tests/fuzz: libFuzzer targets for the parsers that read what pods send.
#   make fuzz-build            build/fuzz/fuzz_registration, build/fuzz/fuzz_addr
#   make fuzz [FUZZ_SECONDS=600]   run each (in parallel) from tests/fuzz/corpus/;
#                              fails on any crash, leak, timeout or sanitizer report
# Built with clang 14 (-fsanitize=fuzzer,address,undefined; libclang-rt-14-dev),
# never by `make all`: the agent's build does not need the fuzzing runtime.
FUZZ_CC      ?= $(CLANG)
FUZZ_SECONDS ?= 600
FUZZ_CFLAGS  := -std=c11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -D_GNU_SOURCE \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -I$(BUILD) -Ilib -Ibpf -Iagent
FUZZ_BINS    := $(BUILD)/fuzz/fuzz_registration $(BUILD)/fuzz/fuzz_addr

$(BUILD)/fuzz/fuzz_registration: tests/fuzz/fuzz_registration.c agent/api/registration.c lib/addr.c \
		agent/api/registration.h lib/capture_settings.h lib/addr.h bpf/pods.h
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(LDLIBS_JSON)

$(BUILD)/fuzz/fuzz_addr: tests/fuzz/fuzz_addr.c lib/addr.c lib/addr.h bpf/pods.h
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

.PHONY: fuzz-build
fuzz-build: $(FUZZ_BINS)

# unit tests of the agent's input limits (agent/api/ratelimit.c)
UNIT_OBJS_test_ratelimit := $(BUILD)/obj/agent/api/ratelimit.o $(BUILD)/obj/lib/netns.o
UNIT_LIBS_test_ratelimit := -lpthread
