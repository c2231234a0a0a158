# pyinstr — one non-recursive GNU Makefile.
#   make            build build/libpyinstr.so and build/pyinstr-report
#   make check      build and run every test (unit, then integration on each interpreter)
#   make bench      overhead and accuracy benchmark (not part of check)
#   make install    honours prefix and DESTDIR
# Knobs: V=1 (show commands), SANITIZE=address,undefined | thread (unit tests and report),
#        DEVELOPER=1 (extra warnings).

prefix ?= /usr/local
bindir ?= $(prefix)/bin
libdir ?= $(prefix)/lib
mandir ?= $(prefix)/share/man

CC ?= cc
B := build
VERSION := 0.1.0

CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -fvisibility=hidden \
	-fno-omit-frame-pointer -I. -DPYI_VERSION='"$(VERSION)"' $(CFLAGS)
ALL_LDFLAGS := $(LDFLAGS)
ifdef DEVELOPER
ALL_CFLAGS += -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
endif
ifdef SANITIZE
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif

CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

ifeq ($(V),1)
Q :=
quiet = @:
else
Q := @
quiet = @printf '  %-7s %s\n'
endif

COMMON_SRCS := $(sort $(wildcard common/*.c))
LOADER_SRCS := $(sort $(wildcard loader/*.c))
AGENT_SRCS := $(sort $(wildcard agent/*.c))
REPORT_SRCS := $(filter-out report/main.c,$(sort $(wildcard report/*.c)))
UNIT_SRCS := $(sort $(wildcard tests/unit/check_*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
AGENT_OBJS := $(call obj,$(AGENT_SRCS) $(LOADER_SRCS) $(COMMON_SRCS))
REPORT_OBJS := $(call obj,$(REPORT_SRCS) $(COMMON_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))

LIB := $(B)/libpyinstr.so
REPORT := $(B)/pyinstr-report

.PHONY: all check unit integration bench install clean example
all: $(LIB) $(REPORT)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(quiet) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) $(if $(filter tests/%,$<),$(CHECK_CFLAGS)) -MMD -MP -c -o $@ $<

$(LIB): $(AGENT_OBJS)
	$(quiet) LINK $@
	$(Q)$(CC) -shared -o $@ $^ $(ALL_LDFLAGS) -Wl,--version-script=agent/exports.map \
		-Wl,-z,defs -ldl -lpthread

$(B)/libagent.a: $(AGENT_OBJS)
	$(quiet) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/libreport.a: $(REPORT_OBJS)
	$(quiet) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(REPORT): $(call obj,report/main.c) $(B)/libreport.a
	$(quiet) LINK $@
	$(Q)$(CC) -o $@ $^ $(ALL_LDFLAGS) -lz -lm

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/libagent.a $(B)/libreport.a
	@mkdir -p $(dir $@)
	$(quiet) LINK $@
	$(Q)$(CC) -o $@ $^ $(ALL_LDFLAGS) $(CHECK_LIBS) -ldl -lpthread -lz -lm

# A test-only library exposing the loader's walk to Python through ctypes. Built without
# sanitizers: an ASan-built object cannot be loaded into a stock python.
PROBE := $(B)/tests/libpyiprobe.so
$(PROBE): tests/probe/probe.c $(LOADER_SRCS) $(wildcard loader/*.h)
	@mkdir -p $(dir $@)
	$(quiet) LINK $@
	$(Q)$(CC) $(filter-out -fsanitize=%,$(ALL_CFLAGS)) -shared -o $@ tests/probe/probe.c \
		$(LOADER_SRCS) -Wl,-z,defs -ldl -lpthread

# The loader against a fake libpython 3.14 / 3.15 (no real build of either is installed).
FAKE_CHECKS := $(B)/tests/check_fake_cpython314 $(B)/tests/check_fake_cpython315
$(B)/tests/libfakepy3%.so: tests/probe/fake_cpython.c
	@mkdir -p $(dir $@)
	$(quiet) LINK $@
	$(Q)$(CC) $(ALL_CFLAGS) -DFAKE_MINOR=$* -shared -o $@ $< $(ALL_LDFLAGS)
$(B)/tests/check_fake_cpython3%: tests/probe/check_fake_cpython.c $(LOADER_SRCS) \
		$(wildcard loader/*.h) $(B)/tests/libfakepy3%.so
	$(quiet) LINK $@
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -DFAKE_MINOR=$* -o $@ \
		tests/probe/check_fake_cpython.c $(LOADER_SRCS) -L$(B)/tests -lfakepy3$* \
		-Wl,-rpath,'$$ORIGIN' $(ALL_LDFLAGS) $(CHECK_LIBS) -ldl -lpthread

# Writes synthetic profiles (tests and the report-throughput benchmark).
MKPROFILE := $(B)/mkprofile
$(MKPROFILE): $(call obj,tests/tools/mkprofile.c) $(B)/libreport.a
	$(quiet) LINK $@
	$(Q)$(CC) -o $@ $^ $(ALL_LDFLAGS) -lz -lm

unit: $(UNIT_BINS) $(FAKE_CHECKS) $(REPORT) $(MKPROFILE)
	@if [ -z "$(CHECK_LIBS)" ]; then echo "make check: the Check library is missing (apt-get install check pkg-config)"; exit 1; fi
	@fail=0; for t in $(UNIT_BINS) $(FAKE_CHECKS); do \
		PYI_TEST_ROOT=$(CURDIR) timeout 300 $$t || fail=1; \
	done; exit $$fail

integration: all $(PROBE)
	@python3 tests/integration/run.py --build $(B)

check: all unit integration

example: all
	@rm -f $(B)/example.prof
	LD_PRELOAD=$(CURDIR)/$(LIB) PYINSTR_OUTPUT=$(B)/example.prof python3 examples/app.py
	$(REPORT) $(B)/example.prof

bench: all
	@python3 bench/run.py --build $(B)

install: all
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(libdir) $(DESTDIR)$(mandir)/man1
	install -m 755 $(REPORT) $(DESTDIR)$(bindir)/pyinstr-report
	install -m 755 $(LIB) $(DESTDIR)$(libdir)/libpyinstr.so
	install -m 644 docs/pyinstr-report.1 $(DESTDIR)$(mandir)/man1/pyinstr-report.1

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# Keep test objects: they are intermediate files to make, but rebuilding them is waste.
.SECONDARY:
