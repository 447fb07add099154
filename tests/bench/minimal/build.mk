# tests/bench/minimal: the benchmark's `minimal` configuration (never
# installed): build/tests/minimal and its BPF object, skeleton-embedded.
MINIMAL_B := $(BUILD)/bench/minimal

all: $(BUILD)/tests/minimal

$(MINIMAL_B)/minimal.tmp.o: tests/bench/minimal/minimal.bpf.c
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(MINIMAL_B)/minimal.bpf.o: $(MINIMAL_B)/minimal.tmp.o
	$(Q)$(BPFTOOL) gen object $@ $<

$(MINIMAL_B)/minimal.skel.h: $(MINIMAL_B)/minimal.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name minimal > $@

$(BUILD)/tests/minimal: tests/bench/minimal/minimal.c $(MINIMAL_B)/minimal.skel.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -I$(MINIMAL_B) -o $@ $< $(LDLIBS_BPF)
