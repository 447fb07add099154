# lib/: user-space code shared by the agent, the CLI, meshcut-init and the webhook.
# LIB_OBJS: what every binary may link; LIB_CLIENT_OBJS: talking to the agent (libcurl).
LIB_OBJS := $(BUILD)/obj/lib/log.o $(BUILD)/obj/lib/addr.o $(BUILD)/obj/lib/netlink.o \
            $(BUILD)/obj/lib/fsutil.o $(BUILD)/obj/lib/netns.o $(BUILD)/obj/lib/prom.o
LIB_CLIENT_OBJS := $(BUILD)/obj/lib/agent_client.o
# LIB_HTTP_OBJS: serving HTTP (libmicrohttpd): the agent's API and the webhook
LIB_HTTP_OBJS := $(BUILD)/obj/lib/http_server.o
UNIT_OBJS_test_addr := $(BUILD)/obj/lib/addr.o
UNIT_OBJS_test_netlink_nsid := $(BUILD)/obj/lib/netlink.o
UNIT_OBJS_test_http_listen := $(LIB_HTTP_OBJS)
UNIT_LIBS_test_http_listen := $(LDLIBS_HTTP)
