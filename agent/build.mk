# agent/: the node agent (build/meshcut-agent) and its CLI (build/meshcut)
AGENT_SRCS := agent/main.c agent/datapath.c agent/drain.c agent/registry.c \
              agent/registration.c agent/api.c agent/stats.c agent/verify.c \
              agent/tc.c agent/tc_nl.c agent/tc_config.c agent/monitor.c agent/monitor_recon.c agent/layouts.c agent/podwatch.c agent/ratelimit.c \
              agent/tc_conntrack.c agent/kernel_btf.c agent/rw_hooks.c agent/check.c agent/access.c
AGENT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(AGENT_SRCS))

# the agent embeds the BPF skeleton
$(AGENT_OBJS): $(BPF_SKELS)

$(BUILD)/meshcut-agent: $(AGENT_OBJS) $(LIB_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BPF) $(LDLIBS_JSON) $(LDLIBS_HTTP) $(LDLIBS_CT) -lpthread

all: $(BUILD)/meshcut-agent

UNIT_OBJS_test_registration := $(BUILD)/obj/agent/registration.o $(BUILD)/obj/lib/addr.o
UNIT_LIBS_test_registration := $(LDLIBS_JSON)
UNIT_OBJS_test_drain := $(BUILD)/obj/agent/drain.o
UNIT_LIBS_test_drain := $(LDLIBS_BPF)
UNIT_OBJS_test_access := $(BUILD)/obj/agent/access.o
UNIT_OBJS_test_registry := $(BUILD)/obj/agent/registry.o $(BUILD)/obj/lib/addr.o
UNIT_LIBS_test_registry := $(LDLIBS_BPF) $(LDLIBS_JSON) -lpthread
UNIT_OBJS_test_monitor_recon := $(BUILD)/obj/agent/monitor_recon.o
UNIT_LIBS_test_monitor_recon := $(LDLIBS_JSON)

CLI_OBJS := $(BUILD)/obj/agent/cli/meshcut.o $(BUILD)/obj/agent/cli/monitor_cmd.o \
            $(BUILD)/obj/agent/cli/cli_call.o
$(BUILD)/meshcut: $(CLI_OBJS) $(LIB_OBJS) $(LIB_CLIENT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_CURL) $(LDLIBS_JSON)
all: $(BUILD)/meshcut

# the cross-node shortcut's configuration parser (tests/unit/test_tc_config.c)
UNIT_OBJS_test_tc_config := $(BUILD)/obj/agent/tc_config.o $(BUILD)/obj/lib/addr.o
