# tests/apps: the test services of the virtual cluster.
#   build/tests/meshapp     HTTP service with upstream fan-out + stream service
#   build/tests/meshstream  byte-stream integrity / latency client
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
