# `make bench`: pairpick against raw psql COPY and the prototype's Python
# pipeline on the same rows, side by side (tests/bench/run.sh; BENCH_N,
# BENCH_D, BENCH_K, BENCH_PAIRS, BENCH_REPEAT, BENCH_LARGE, BENCH_LARGE_N,
# BENCH_OUT).
.PHONY: bench
bench: deps
	$(MAKE) all $(BUILD)/bench/lloyd
	tests/bench/run.sh

# One Lloyd iteration against one sgemm of the same shape (tests/bench/lloyd.c).
$(BUILD)/bench/lloyd: tests/bench/lloyd.c $(BUILD)/libpairpick.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpairpick.a $(LDLIBS)
