#!/bin/sh
# `make demo`: a throwaway PostgreSQL, the demo images, real runs of the job,
# and what they wrote. Leaves nothing running.
set -eu
cd "$(dirname "$0")/../.."
PAIRPICK=${PAIRPICK:-build/pairpick}

eval "$(tests/tools/pg.sh start)"
trap 'tests/tools/pg.sh stop "$PAIRPICK_PGDIR"' EXIT INT TERM

step() { printf '\n==> %s\n' "$*"; }

step "loading demo images (generated in SQL: 5000 images, 30 topics, 768-d embeddings)"
psql -q -X -v ON_ERROR_STOP=1 -f sql/demo/demo_images.sql 2>&1 | grep -v NOTICE

step "pairpick migrate config/demo-score.yaml"
$PAIRPICK migrate config/demo-score.yaml

step "pairpick explain config/demo-score.yaml"
$PAIRPICK explain config/demo-score.yaml

step "pairpick run config/demo-score.yaml --run-id demo-score-1   (quantile score bins)"
$PAIRPICK run config/demo-score.yaml --run-id demo-score-1

step "the same run id again: nothing to do"
$PAIRPICK run config/demo-score.yaml --run-id demo-score-1

step "pairpick run config/demo-category.yaml --run-id demo-category-1   (pairs within a topic)"
$PAIRPICK run config/demo-category.yaml --run-id demo-category-1

step "pairpick run config/demo-embedding.yaml --run-id demo-embedding-1   (k-means on CLIP embeddings)"
$PAIRPICK run config/demo-embedding.yaml --run-id demo-embedding-1

step "pairpick run config/demo-embedding-score.yaml --run-id demo-embedding-score-1   (clusters x score bins)"
$PAIRPICK run config/demo-embedding-score.yaml --run-id demo-embedding-score-1

step "pairpick run config/demo-uncertain.yaml   (informative pairs: uncertain outcomes first, bridges, queue cap)"
$PAIRPICK run config/demo-uncertain.yaml --run-id demo-uncertain-1
step "pairpick run config/demo-uncertain.yaml again   (the queue holds 1,500 at most)"
$PAIRPICK run config/demo-uncertain.yaml --run-id demo-uncertain-2

step "pairpick fit config/demo-model.yaml   (store k-means centres once, with PCA to 64 dimensions)"
$PAIRPICK migrate config/demo-model.yaml
$PAIRPICK fit config/demo-model.yaml
step "pairpick run config/demo-model.yaml   (assign to the stored centres: same ids every day)"
$PAIRPICK run config/demo-model.yaml --run-id demo-model-1
$PAIRPICK models config/demo-model.yaml

step "pairpick sample config/demo-embedding.yaml --out build/demo/sheet   (the cluster contact sheet)"
tests/tools/demo_images.sh build/demo
$PAIRPICK sample config/demo-embedding.yaml --out build/demo/sheet --per-category 6
echo "open build/demo/sheet/index.html in a browser to see one row of pictures per cluster"

step "a sample of the pending pairs"
psql -X -c "SELECT image_a, image_b, category, round(score_a::numeric, 3) AS score_a,
                   round(score_b::numeric, 3) AS score_b, job, status
              FROM pending_annotation_pairs ORDER BY created_at, category LIMIT 12"
psql -X -c "SELECT job, count(*) AS pairs, round(avg(abs(score_a - score_b))::numeric, 4)
                   AS mean_score_delta
              FROM pending_annotation_pairs GROUP BY job ORDER BY job"

step "pairpick status config/demo-score.yaml"
$PAIRPICK status config/demo-score.yaml
