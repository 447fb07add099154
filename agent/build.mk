# agent/: the node agent (build/meshcut-agent) and its CLI (build/meshcut)
# every .c under agent/ but the CLI's: a new file needs no line here
AGENT_SRCS := $(filter-out agent/cli/%,$(wildcard agent/*.c agent/*/*.c))
AGENT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(AGENT_SRCS))

# the agent embeds the BPF skeleton
$(AGENT_OBJS): $(BPF_SKELS)

$(BUILD)/meshcut-agent: $(AGENT_OBJS) $(LIB_OBJS) $(LIB_HTTP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_BPF) $(LDLIBS_JSON) $(LDLIBS_HTTP) $(LDLIBS_CT) -lpthread

all: $(BUILD)/meshcut-agent

UNIT_OBJS_test_registration := $(BUILD)/obj/agent/api/registration.o $(BUILD)/obj/lib/addr.o
UNIT_LIBS_test_registration := $(LDLIBS_JSON)
UNIT_OBJS_test_drain := $(BUILD)/obj/agent/shortcut/drain.o
UNIT_LIBS_test_drain := $(LDLIBS_BPF)
UNIT_OBJS_test_access := $(BUILD)/obj/agent/api/access.o
UNIT_OBJS_test_liveness := $(BUILD)/obj/agent/api/liveness.o
UNIT_OBJS_test_why := $(BUILD)/obj/agent/api/why.o $(BUILD)/obj/lib/addr.o
UNIT_LIBS_test_why := $(LDLIBS_JSON) -lpthread
UNIT_OBJS_test_registry := $(BUILD)/obj/agent/api/registry.o $(BUILD)/obj/lib/addr.o
UNIT_LIBS_test_registry := $(LDLIBS_BPF) $(LDLIBS_JSON) -lpthread
UNIT_OBJS_test_monitor_recon := $(patsubst %,$(BUILD)/obj/agent/monitor/%.o,recon tables walk report hist index_list)
UNIT_LIBS_test_monitor_recon := $(LDLIBS_JSON)

CLI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard agent/cli/*.c))
$(BUILD)/meshcut: $(CLI_OBJS) $(LIB_OBJS) $(LIB_CLIENT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_CURL) $(LDLIBS_JSON)
all: $(BUILD)/meshcut

# the cross-node shortcut's configuration parser (tests/unit/test_tc_config.c)
UNIT_OBJS_test_tc_config := $(BUILD)/obj/agent/crossnode/tc_config.o $(BUILD)/obj/lib/addr.o
