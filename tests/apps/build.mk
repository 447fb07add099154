# tests/apps: the test services of the virtual cluster.
#   build/tests/meshapp     HTTP service with upstream fan-out + stream service
#   build/tests/meshstream  byte-stream integrity / latency client
#   build/tests/meshload    closed-loop HTTP/1.1 load generator for tests/bench
APPS_O := $(BUILD)/obj/tests/apps
APPS_MESHAPP_OBJS := $(addprefix $(APPS_O)/,meshapp.o http_service.o http1.o \
	stream_service.o stream_data.o net.o applog.o)
APPS_MESHSTREAM_OBJS := $(addprefix $(APPS_O)/,meshstream.o stream_reader.o stream_data.o net.o)

all: $(BUILD)/tests/meshapp $(BUILD)/tests/meshstream

$(BUILD)/tests/meshapp: $(APPS_MESHAPP_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -pthread -lcrypto

$(BUILD)/tests/meshstream: $(APPS_MESHSTREAM_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -pthread -lcrypto

# unit tests of the pieces above (tests/unit/build.mk links them)
UNIT_OBJS_test_stream_data := $(APPS_O)/stream_data.o
UNIT_OBJS_test_http1 := $(APPS_O)/http1.o
UNIT_OBJS_test_apps_net := $(APPS_O)/net.o

# build/tests/meshload: closed-loop HTTP/1.1 load generator (tests/bench)
APPS_MESHLOAD_OBJS := $(addprefix $(APPS_O)/,meshload.o load_engine.o load_hist.o load_url.o \
	load_cpu.o http1.o net.o)

all: $(BUILD)/tests/meshload

$(BUILD)/tests/meshload: $(APPS_MESHLOAD_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -pthread

UNIT_OBJS_test_load_hist := $(APPS_O)/load_hist.o
UNIT_OBJS_test_load_url := $(APPS_O)/load_url.o $(APPS_O)/net.o
