# `make bench`: pairpick against raw psql COPY and the prototype's Python
# pipeline on the same rows, side by side (tests/bench/run.sh; BENCH_N,
# BENCH_D, BENCH_K, BENCH_PAIRS, BENCH_REPEAT, BENCH_LARGE, BENCH_LARGE_N,
# BENCH_OUT); then the cluster quality figures (bench-clusters, below).
.PHONY: bench
bench: deps
	$(MAKE) all $(BUILD)/bench/lloyd
	tests/bench/run.sh
	$(MAKE) bench-clusters

# One Lloyd iteration against one sgemm of the same shape (tests/bench/lloyd.c).
$(BUILD)/bench/lloyd: tests/bench/lloyd.c $(BUILD)/libpairpick.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpairpick.a $(LDLIBS)

# Cluster quality against the true blobs and scikit-learn (issue 15, points 4
# and 5): tests/bench/clusters.py drives tests/bench/clusters.c.
.PHONY: bench-clusters
bench-clusters: all $(BUILD)/bench/clusters
	/usr/bin/python3 tests/bench/clusters.py --driver $(BUILD)/bench/clusters \
		--dir $(BUILD)/bench/blobs --json $(BUILD)/bench/clusters.json

$(BUILD)/bench/clusters: tests/bench/clusters.c $(BUILD)/libpairpick.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpairpick.a $(LDLIBS)

# The PairSet of stored pairs alone: peak RSS, bytes a pair, look-up and
# chooser times (tests/bench/pairset.c; issue 14, point 7).
$(BUILD)/bench/pairset: tests/bench/pairset.c $(BUILD)/libpairpick.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libpairpick.a $(LDLIBS)
