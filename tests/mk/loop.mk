# The closed loop of issue 18 (tests/bench/loop.sh, tests/bench/loop.py):
# pairpick chooses pairs, a simulated Thurstone annotator answers them, a
# probit MAP refit writes the scores and variances back, and again.
#
# `make bench-loop`: three regimes (daily catalogue N = 2,000; everyone
# equally uncertain N = 500, 2,000, 10,000; growing catalogue N = 2,000),
# LOOP_SEEDS seeds, with and without 10% lapses, the policies of
# LOOP_POLICIES; the table on stdout, results.json and curves.csv in
# $(BUILD)/bench-loop. 263 s on 2 idle cores, about 15 minutes on loaded ones
# (docs/benchmarks.md).
#
# `make test-loop`: N = 500 in every regime, 2 seeds, a few rounds; fails
# when LOOP_DEFAULT_POLICY, pairpick's default score policy (informative,
# job/config/rules.c), does worse than random pairs over all images
# (all-random) at any round of any regime, or needs more comparisons to
# reach Spearman 0.95 when everyone is equally uncertain.
#
# At N = 500 and 2 seeds a policy's mean Spearman moves by about 0.01 with
# the seeds alone (the daily regime ranks 100 new images), so test-loop
# allows LOOP_TOLERANCE below all-random before it fails; a policy that
# really teaches less than random pairs falls further behind than that.
#
# LOOP_ARGS passes more options to loop.py (--help lists them), e.g.
#   make bench-loop LOOP_POLICIES=all-random,random,informative
#   make bench-loop LOOP_ARGS='--regimes daily --seeds 3'
LOOP_DEFAULT_POLICY ?= informative
LOOP_POLICIES ?= all-random,random,uncertain,informative
LOOP_SEEDS ?= 5
LOOP_ARGS ?=
LOOP_TOLERANCE ?= 0.01

.PHONY: bench-loop test-loop
bench-loop: deps-test
	$(MAKE) all
	tests/bench/loop.sh --default $(LOOP_DEFAULT_POLICY) --policies $(LOOP_POLICIES) \
		--seeds $(LOOP_SEEDS) --accuracy --out $(BUILD)/bench-loop $(LOOP_ARGS)

test-loop: $(BUILD)/pairpick
	tests/bench/loop.sh --check --default $(LOOP_DEFAULT_POLICY) \
		--policies all-random,$(LOOP_DEFAULT_POLICY) --seeds 2 \
		--n daily=500,uncertain=500,growing=500 --rounds daily=5,uncertain=8,growing=5 \
		--tolerance $(LOOP_TOLERANCE) --out $(BUILD)/bench-loop/test $(LOOP_ARGS)
