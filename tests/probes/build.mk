# tests/probes: small programs the integration tests use to probe the datapath
#   build/tests/sockcompat   socket-semantics scenarios on a pair it owns both ends of
#   build/tests/othertool    another sockmap user on the same sockets (coexistence)
#   build/tests/connstorm    many short connections ending normally, reset or at once
#   build/tests/dropwatch    the kernel's drops of one address's packets, by function
#   build/tests/dirrace      checked bidirectional streams on many short paired connections
#   build/tests/modeflip     the agent's mode switched back and forth every millisecond
#   build/tests/pairdump     what a pinned pair table holds, and pairs left half-redirected
PROBE_BINS := $(BUILD)/tests/sockcompat $(BUILD)/tests/connstorm
all: $(PROBE_BINS) $(BUILD)/tests/othertool $(BUILD)/tests/dropwatch
all: $(BUILD)/tests/dirrace $(BUILD)/tests/modeflip $(BUILD)/tests/pairdump
$(PROBE_BINS): $(BUILD)/tests/%: $(BUILD)/obj/tests/probes/%.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -pthread

# probes with BPF: tests/probes/X.bpf.c -> skeleton X.skel.h, embedded by Y.c
$(BUILD)/tests/probes/%.tmp.o: tests/probes/%.bpf.c $(BUILD)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/tests/probes/%.bpf.o: $(BUILD)/tests/probes/%.tmp.o
	$(Q)$(BPFTOOL) gen object $@ $<
$(BUILD)/tests/probes/%.skel.h: $(BUILD)/tests/probes/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@
$(BUILD)/obj/tests/probes/othertool.o $(BUILD)/obj/tests/probes/dropwatch.o: CFLAGS += -I$(BUILD)/tests/probes
$(BUILD)/obj/tests/probes/othertool.o: $(BUILD)/tests/probes/other_sockmap.skel.h
$(BUILD)/obj/tests/probes/dropwatch.o: $(BUILD)/tests/probes/dropwatch.skel.h
$(BUILD)/tests/othertool $(BUILD)/tests/dropwatch: $(BUILD)/tests/%: $(BUILD)/obj/tests/probes/%.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BPF)
.PRECIOUS: $(BUILD)/tests/probes/%.tmp.o $(BUILD)/tests/probes/%.bpf.o $(BUILD)/tests/probes/%.skel.h

$(BUILD)/obj/tests/probes/dirrace.o: CFLAGS += -Itests/apps
$(BUILD)/tests/dirrace: $(BUILD)/obj/tests/probes/dirrace.o $(BUILD)/obj/tests/apps/stream_data.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -pthread -lcrypto
$(BUILD)/tests/modeflip: $(BUILD)/obj/tests/probes/modeflip.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_CURL)
$(BUILD)/tests/pairdump: $(BUILD)/obj/tests/probes/pairdump.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BPF)
