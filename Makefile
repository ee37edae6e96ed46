# pairpick: see README.md. `make demo` and `make test` are the two commands a
# new machine needs; both install what is missing first (`make deps`).

CC ?= cc
PREFIX ?= /usr/local
PKGS := libpq yaml-0.1 openblas
# OpenBLAS is loaded at run time (job/numeric/blas.c), not linked: its
# headers are needed to build, its library only by embedding runs.
LINK_PKGS := libpq yaml-0.1
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(LINK_PKGS) 2>/dev/null)
BLAS_CFLAGS = $(shell pkg-config --cflags openblas 2>/dev/null)

OPT ?= -O2
CFLAGS ?= $(OPT) -g
BASE_CFLAGS = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -DPAIRPICK_VERSION='"$(VERSION)"' \
	-Wall -Wextra -Werror -MMD -MP -Ijob -Ibuild
ALL_CFLAGS = $(BASE_CFLAGS) $(PKG_CFLAGS) $(CFLAGS)
# The layers that know nothing of PostgreSQL or YAML (job/core, job/numeric)
# compile without libpq's and libyaml's flags, and with tests/layers/poison
# first on the include path: its libpq-fe.h and yaml.h stop the build, so a
# stray include there fails at once.
PURE_CFLAGS = $(BASE_CFLAGS) -Itests/layers/poison $(BLAS_CFLAGS) $(CFLAGS)
LDLIBS = $(PKG_LIBS) -lm -lpthread -ldl

BUILD ?= build
LAYERS := core numeric config db read run

# job/main.c and the command-line parser beside it sit on top of the layers.
SOURCES := $(sort $(foreach layer,$(LAYERS),$(wildcard job/$(layer)/*.c)) $(wildcard job/*.c))
LIB_SOURCES := $(filter-out job/main.c,$(SOURCES))
LIB_OBJECTS := $(LIB_SOURCES:%.c=$(BUILD)/%.o) $(BUILD)/migrations.o
MIGRATIONS := $(sort $(wildcard sql/[0-9]*.sql))
UNIT_SOURCES := $(sort $(wildcard tests/unit/test_*.c))
UNIT_TESTS := $(UNIT_SOURCES:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps deps-test demo test test-fuzz-valgrind unit configs integration install clean

all: $(BUILD)/pairpick

deps:
	@tests/tools/deps.sh

deps-test:
	@tests/tools/deps.sh --test

$(BUILD)/pairpick: $(BUILD)/job/main.o $(BUILD)/libpairpick.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libpairpick.a: $(LIB_OBJECTS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/job/core/%.o: job/core/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PURE_CFLAGS) -c -o $@ $<

$(BUILD)/job/numeric/%.o: job/numeric/%.c
	@mkdir -p $(dir $@)
	$(CC) $(PURE_CFLAGS) -c -o $@ $<

# The migrations are compiled into the binary so `pairpick migrate` works
# away from the repository.
$(BUILD)/migrations.c: $(MIGRATIONS) tests/tools/embed_sql.sh
	@mkdir -p $(dir $@)
	tests/tools/embed_sql.sh $(MIGRATIONS) > $@

$(BUILD)/migrations.o: $(BUILD)/migrations.c
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libpairpick.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpairpick.a $(LDLIBS) -lcmocka

unit: $(UNIT_TESTS)
	@status=0; for t in $(UNIT_TESTS); do echo "== $$t"; $$t || status=1; done; exit $$status

configs: $(BUILD)/pairpick
	tests/configs/run.sh

integration: $(BUILD)/pairpick
	tests/integration/all.sh

# Everything CI runs: the normal build's tests, then the same tests under
# ASan/UBSan, each fuzz target replaying its committed corpus and then
# fuzzing for TEST_FUZZ_SECONDS, and representative runs under valgrind.
# The builds compile JOBS files at once (default: the CPUs this process may
# use); integration suites run INTEGRATION_JOBS at a time (tests/integration/all.sh).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
export JOBS
# make test fuzzes each target this long after replaying the corpus (make
# fuzz alone: FUZZ_SECONDS, 60).
TEST_FUZZ_SECONDS ?= 30

test: deps-test
	$(MAKE) -j$(JOBS) all $(UNIT_TESTS)
	$(MAKE) unit configs
	$(MAKE) check-layers check-docs
	$(MAKE) test-loop
	@# The plain integration suites leave a core idle while they wait on
	@# servers and restarts; beside them run the package test, then the
	@# sanitized and fuzzing builds. Their output follows the suites'.
	@( $(MAKE) --no-print-directory test-package; package=$$?; \
	   $(MAKE) --no-print-directory sanitize-build fuzz-build || exit 1; exit $$package ) \
		>$(BUILD)/beside.log 2>&1 & beside=$$!; \
	$(MAKE) integration; status=$$?; \
	wait $$beside; beside_status=$$?; \
	echo "== beside the integration suites: test-package, sanitize-build, fuzz-build: exit $$beside_status"; \
	cat $(BUILD)/beside.log; \
	[ $$status -eq 0 ] && [ $$beside_status -eq 0 ]
	$(MAKE) test-sanitize
	$(MAKE) fuzz-regress
	$(MAKE) test-fuzz-valgrind

# Valgrind runs one process at a time: beside it the two fuzz targets take
# the other core (and a share of this one). Valgrind's output follows.
test-fuzz-valgrind:
	@$(MAKE) --no-print-directory test-valgrind >$(BUILD)/valgrind.log 2>&1 & valgrind=$$!; \
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS); status=$$?; \
	wait $$valgrind; valgrind_status=$$?; \
	echo "== beside fuzzing: test-valgrind: exit $$valgrind_status"; \
	cat $(BUILD)/valgrind.log; \
	[ $$status -eq 0 ] && [ $$valgrind_status -eq 0 ]

demo: deps
	$(MAKE) all
	tests/tools/demo.sh

MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/pairpick
# What a user adapts: the reference config, the demo's jobs and the
# least-privilege role SQL.
EXAMPLES := config/example.yaml $(sort $(wildcard config/demo-*.yaml)) $(sort $(wildcard sql/roles/*.sql))

# The binary, both manual pages (their footer names this VERSION), and
# README, CHANGELOG and the examples under DOCDIR. DESTDIR stages the tree
# for a package (debian/rules).
install: $(BUILD)/pairpick
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(BUILD)/pairpick $(DESTDIR)$(PREFIX)/bin/pairpick
	sed 's/^\.Os$$/.Os pairpick $(VERSION)/' docs/pairpick.1 > $(DESTDIR)$(MANDIR)/man1/pairpick.1
	sed 's/^\.Os$$/.Os pairpick $(VERSION)/' docs/pairpick.yaml.5 > $(DESTDIR)$(MANDIR)/man5/pairpick.yaml.5
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/pairpick.1 $(DESTDIR)$(MANDIR)/man5/pairpick.yaml.5
	install -m 0644 README.md CHANGELOG.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/

clean:
	rm -rf $(BUILD)

# Test suites beyond unit and integration (fuzzing, sanitizers, benchmarks)
# add their targets in tests/mk/*.mk.
include $(sort $(wildcard tests/mk/*.mk))

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
