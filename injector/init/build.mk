# injector/init/: meshcut-init, the registration helper run in each meshed pod
INIT_OBJS := $(BUILD)/obj/injector/init/meshcut_init.o
$(BUILD)/meshcut-init: $(INIT_OBJS) $(LIB_OBJS) $(LIB_CLIENT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_CURL) $(LDLIBS_JSON)
all: $(BUILD)/meshcut-init
