# Unit tests (cmocka): tests/unit/test_NAME.c -> build/tests/unit/test_NAME.
# A test that needs project objects lists them in UNIT_OBJS_test_NAME, extra
# libraries in UNIT_LIBS_test_NAME (set next to the code they test).
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRCS))
all: $(UNIT_BINS)

.SECONDEXPANSION:
$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $$(UNIT_OBJS_$$*)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lcmocka $(UNIT_LIBS_$*)

# unit tests include the headers of what they test
$(patsubst tests/unit/%.c,$(BUILD)/obj/tests/unit/%.o,$(UNIT_SRCS)): CFLAGS += -Iagent
