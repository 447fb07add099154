# bpf/: kernel side. Each X.bpf.c becomes build/bpf/X.bpf.o and its skeleton
# build/bpf/X.skel.h, which the agent embeds.
BPF_PROGS := sock_shortcut monitor tc_shortcut wake
BPF_SKELS := $(patsubst %,$(BUILD)/bpf/%.skel.h,$(BPF_PROGS))
all: $(BPF_SKELS)

# unit test of the tc programs (tests/unit/test_tc_shortcut.c) embeds their skeleton
UNIT_LIBS_test_tc_shortcut := $(LDLIBS_BPF)
$(BUILD)/obj/tests/unit/test_tc_shortcut.o: $(BUILD)/bpf/tc_shortcut.skel.h
