# `make bench`: pairpick against raw psql COPY and the prototype's Python
# pipeline on the same rows, side by side (tests/bench/run.sh; BENCH_N,
# BENCH_D, BENCH_K, BENCH_PAIRS, BENCH_REPEAT, BENCH_OUT).
.PHONY: bench
bench: deps
	$(MAKE) all
	tests/bench/run.sh
