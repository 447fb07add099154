# injector/webhook: meshcut-webhook, the mutating admission webhook
# (libmicrohttpd + GnuTLS for HTTPS, jansson for AdmissionReview and JSON Patch).
WEBHOOK_O := $(BUILD)/obj/injector/webhook
# the parts that need neither HTTP nor TLS (unit tested); of lib/ only the logger
WEBHOOK_CORE_OBJS := $(addprefix $(WEBHOOK_O)/,review.o pod.o istio_args.o patch.o base64.o) \
	$(BUILD)/obj/lib/log.o
WEBHOOK_OBJS := $(addprefix $(WEBHOOK_O)/,main.o options.o server.o tls_reload.o metrics.o) \
	$(BUILD)/obj/lib/prom.o \
	$(WEBHOOK_CORE_OBJS) $(LIB_HTTP_OBJS)

all: $(BUILD)/meshcut-webhook

$(BUILD)/meshcut-webhook: $(WEBHOOK_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -pthread $(LDLIBS_HTTP) -lgnutls $(LDLIBS_JSON)

UNIT_OBJS_test_webhook_review := $(WEBHOOK_CORE_OBJS)
UNIT_LIBS_test_webhook_review := $(LDLIBS_JSON)
UNIT_OBJS_test_webhook_istio_args := $(WEBHOOK_CORE_OBJS)
UNIT_LIBS_test_webhook_istio_args := $(LDLIBS_JSON)
UNIT_OBJS_test_webhook_options := $(WEBHOOK_O)/options.o
UNIT_OBJS_test_webhook_metrics := $(WEBHOOK_O)/metrics.o $(BUILD)/obj/lib/prom.o $(BUILD)/obj/lib/log.o \
	$(LIB_HTTP_OBJS)
UNIT_LIBS_test_webhook_metrics := $(LDLIBS_HTTP) $(LDLIBS_JSON) -pthread
