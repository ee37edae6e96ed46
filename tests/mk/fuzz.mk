# Fuzzing (libFuzzer, clang): the config parser and the binary COPY stream
# parser on arbitrary bytes; a crash, an over-read, undefined behaviour or a
# leak fails. See tests/fuzz/*.c for the input layouts.
#
#   make fuzz [FUZZ_SECONDS=60]   every target for FUZZ_SECONDS from the seed corpus, side by side
#   make fuzz-regress             each target once over every committed input, no fuzzing
#
# The library is built again with clang and the sanitizers into build/fuzz
# (a sub-make, like test-sanitize). New inputs libFuzzer finds go to
# build/fuzz/corpus/TARGET, never into the committed tests/fuzz/corpus/;
# a crash leaves build/fuzz/artifacts/TARGET-crash-*: add it to
# tests/fuzz/corpus/TARGET/ (named regress-*) once fixed, so fuzz-regress
# replays it for good.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build/fuzz
FUZZ_TARGETS := config stream
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SANITIZE)
# abort_on_error: a report is a crash libFuzzer records; detect_leaks: a
# leak is a finding like any other.
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# rss and malloc limits well below the machine's memory; 10 s for one input.
FUZZ_FLAGS := -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -max_len=65536 -print_final_stats=1

.PHONY: fuzz fuzz-build fuzz-regress

# Runs inside the sub-make, where BUILD=build/fuzz and CFLAGS carry the sanitizers.
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/libpairpick.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libpairpick.a $(LDLIBS)

fuzz-build:
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: $(FUZZ_CC) is missing (make deps-test installs clang)" >&2; exit 1; }
	$(MAKE) -j$(or $(JOBS),1) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS='$(FUZZ_CFLAGS)' \
		$(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

# The targets fuzz side by side (one core each), then each prints its
# figures; the first that found something prints its log's tail.
fuzz: fuzz-build
	@for target in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$target $(FUZZ_BUILD)/artifacts; \
		echo "== fuzz_$$target for $(FUZZ_SECONDS) s"; \
		( $(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$$target $(FUZZ_FLAGS) -dict=tests/fuzz/$$target.dict \
			-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$target- \
			$(FUZZ_BUILD)/corpus/$$target tests/fuzz/corpus/$$target \
			>$(FUZZ_BUILD)/fuzz_$$target.log 2>&1; echo $$? >$(FUZZ_BUILD)/fuzz_$$target.status ) & \
	done; wait; \
	status=0; for target in $(FUZZ_TARGETS); do \
		echo "== fuzz_$$target: exit $$(cat $(FUZZ_BUILD)/fuzz_$$target.status)"; \
		grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+ *DONE' $(FUZZ_BUILD)/fuzz_$$target.log; \
		echo "   corpus: $$(ls tests/fuzz/corpus/$$target | wc -l) committed, $$(ls $(FUZZ_BUILD)/corpus/$$target | wc -l) found"; \
		if [ "$$(cat $(FUZZ_BUILD)/fuzz_$$target.status)" != 0 ]; then status=1; tail -n 60 $(FUZZ_BUILD)/fuzz_$$target.log; fi; \
	done; exit $$status

fuzz-regress: fuzz-build
	@status=0; for target in $(FUZZ_TARGETS); do \
		echo "== fuzz_$$target over tests/fuzz/corpus/$$target ($$(ls tests/fuzz/corpus/$$target | wc -l) inputs)"; \
		$(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$$target $(FUZZ_FLAGS) -runs=0 tests/fuzz/corpus/$$target \
			>$(FUZZ_BUILD)/regress_$$target.log 2>&1 \
			|| { status=1; tail -n 60 $(FUZZ_BUILD)/regress_$$target.log; }; \
	done; exit $$status
