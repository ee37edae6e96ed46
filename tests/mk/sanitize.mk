# Sanitizers and valgrind: a memory error or a leak in pairpick's code fails
# the build's tests, not a production run.
#
#   make test-sanitize   AddressSanitizer (with LeakSanitizer) and
#                        UndefinedBehaviorSanitizer: the whole tree built
#                        again into build/sanitize, then every unit test, the
#                        bad-config corpus and the integration suite
#                        against that binary
#   make test-valgrind   representative runs (score, embedding, failing,
#                        dry, bad config) of the normal build under
#                        valgrind --leak-check=full
#
# Third-party frames only (libopenblas, libpq) may be suppressed, in
# tests/sanitize.supp (LeakSanitizer) and tests/valgrind.supp (valgrind);
# never pairpick's own.

SANITIZE_BUILD := build/sanitize
SANITIZE_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
# abort_on_error makes a report end the process with SIGABRT (exit 134),
# which no test mistakes for a documented exit code. OPENBLAS_NUM_THREADS=1:
# k-means on one BLAS thread, whose work is OpenBLAS's, not pairpick's (the
# plain pass tests the pool).
SANITIZE_ENV := OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize.supp:print_suppressions=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Integration suites to run against the sanitized binary: all.sh runs every
# suite of `make integration` (faults.sh skips its ulimit -v test under ASan).
SANITIZE_SUITES ?= tests/integration/all.sh

VALGRIND := valgrind --leak-check=full --error-exitcode=1 --errors-for-leak-kinds=definite \
	--suppressions=$(CURDIR)/tests/valgrind.supp --quiet

.PHONY: sanitize-build test-sanitize test-valgrind

sanitize-build:
	$(MAKE) -j$(or $(JOBS),1) BUILD=$(SANITIZE_BUILD) CFLAGS='$(SANITIZE_CFLAGS)' $(SANITIZE_BUILD)/pairpick \
		$(UNIT_TESTS:$(BUILD)/%=$(SANITIZE_BUILD)/%)

# The unit tests and the config corpus each run one process at a time:
# side by side they keep both cores busy (the corpus's output follows).
test-sanitize: sanitize-build
	@status=0; \
	$(SANITIZE_ENV) PAIRPICK=$(CURDIR)/$(SANITIZE_BUILD)/pairpick tests/configs/run.sh \
		>$(SANITIZE_BUILD)/configs.log 2>&1 & configs=$$!; \
	for test in $(UNIT_TESTS:$(BUILD)/%=$(SANITIZE_BUILD)/%); do \
		echo "== $$test"; $(SANITIZE_ENV) $$test || status=1; \
	done; \
	wait $$configs || status=1; \
	echo "== tests/configs/run.sh (sanitized)"; \
	grep -v '^ok ' $(SANITIZE_BUILD)/configs.log; \
	for suite in $(SANITIZE_SUITES); do \
		echo "== $$suite (sanitized)"; \
		$(SANITIZE_ENV) PAIRPICK=$(CURDIR)/$(SANITIZE_BUILD)/pairpick $$suite || status=1; \
	done; exit $$status

test-valgrind: $(BUILD)/pairpick
	@command -v valgrind >/dev/null || { echo "valgrind is missing (make deps-test installs it)" >&2; exit 1; }
	PAIRPICK_VALGRIND='$(VALGRIND)' PAIRPICK=$(CURDIR)/$(BUILD)/pairpick tests/integration/valgrind.sh
