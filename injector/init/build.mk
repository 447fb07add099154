# injector/init/: meshcut-init, the registration helper run in each meshed pod
INIT_OBJS := $(BUILD)/obj/injector/init/meshcut_init.o
$(BUILD)/meshcut-init: $(INIT_OBJS) $(LIB_OBJS) $(LIB_CLIENT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_CURL) $(LDLIBS_JSON)
all: $(BUILD)/meshcut-init

# The chart documents meshcut-init's capture settings: every row of
# lib/capture_settings.h in charts/meshcut/README.md and in the Istio injection
# template, checked on every build (tests/chart/capture_settings_doc.c), so a
# setting added to the table alone fails `make`.
CAPTURE_DOCS := charts/meshcut/README.md charts/meshcut/istio-template/meshcut-injection-template.yaml
$(BUILD)/tests/capture_settings_doc: $(BUILD)/obj/tests/chart/capture_settings_doc.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^
$(BUILD)/capture_settings_doc.ok: $(BUILD)/tests/capture_settings_doc $(CAPTURE_DOCS)
	$(call msg,CHECK,$(CAPTURE_DOCS))
	$(Q)$< $(CAPTURE_DOCS)
	$(Q)touch $@
all: $(BUILD)/capture_settings_doc.ok
