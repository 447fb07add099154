# tests/probes: small programs the integration tests use to probe the datapath
#   build/tests/sockcompat   socket-semantics scenarios on a pair it owns both ends of
#   build/tests/othertool    another sockmap user on the same sockets (coexistence)
#   build/tests/connstorm    many short connections ending normally, reset or at once
PROBE_BINS := $(BUILD)/tests/sockcompat $(BUILD)/tests/connstorm
all: $(PROBE_BINS) $(BUILD)/tests/othertool
$(PROBE_BINS): $(BUILD)/tests/%: $(BUILD)/obj/tests/probes/%.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -pthread

$(BUILD)/tests/probes/other_sockmap.tmp.o: tests/probes/other_sockmap.bpf.c $(BUILD)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/tests/probes/other_sockmap.bpf.o: $(BUILD)/tests/probes/other_sockmap.tmp.o
	$(Q)$(BPFTOOL) gen object $@ $<
$(BUILD)/tests/probes/other_sockmap.skel.h: $(BUILD)/tests/probes/other_sockmap.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name other_sockmap > $@
$(BUILD)/obj/tests/probes/othertool.o: CFLAGS += -I$(BUILD)/tests/probes
$(BUILD)/obj/tests/probes/othertool.o: $(BUILD)/tests/probes/other_sockmap.skel.h
$(BUILD)/tests/othertool: $(BUILD)/obj/tests/probes/othertool.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BPF)
