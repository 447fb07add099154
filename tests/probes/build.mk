# tests/probes: small programs the integration tests use to probe the datapath
#   build/tests/sockcompat   socket-semantics scenarios on a pair it owns both ends of
PROBE_BINS := $(BUILD)/tests/sockcompat
all: $(PROBE_BINS)
$(PROBE_BINS): $(BUILD)/tests/%: $(BUILD)/obj/tests/probes/%.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^
