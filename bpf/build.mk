# bpf/: kernel side. Each X.bpf.c becomes build/bpf/X.bpf.o and its skeleton
# build/bpf/X.skel.h, which the agent embeds.
BPF_PROGS := sock_shortcut
BPF_SKELS := $(patsubst %,$(BUILD)/bpf/%.skel.h,$(BPF_PROGS))
all: $(BPF_SKELS)
