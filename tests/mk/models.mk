# `make bench-models`: fit and assignment with stored cluster models, with
# and without PCA, against fitting in memory (tests/bench/models.sh;
# BENCH_N, BENCH_D, BENCH_K, BENCH_PCA, BENCH_REPEAT).
.PHONY: bench-models
bench-models: $(BUILD)/pairpick
	tests/bench/models.sh
