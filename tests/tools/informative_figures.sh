#!/usr/bin/env bash
# The figures of README's "Informative pairs" section: prefer random against
# prefer uncertain (and with bridges) on the demo images, same seed, in a
# throwaway PostgreSQL. Usage: tests/tools/informative_figures.sh [IMAGES]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAIRPICK=${PAIRPICK:-$ROOT/build/pairpick}
IMAGES=${1:-5000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-figures.XXXXXX")
eval "$("$ROOT/tests/tools/pg.sh" start)"
trap '"$ROOT/tests/tools/pg.sh" stop "$PAIRPICK_PGDIR"; rm -rf "$WORK"' EXIT
psql -q -X -v ON_ERROR_STOP=1 -v images="$IMAGES" -f "$ROOT/sql/demo/demo_images.sql" >/dev/null 2>&1

run() { # job extra-strategy-lines
    cat >"$WORK/$1.yaml" <<YAML
job: $1
source: {table: demo.images, id: job_uuid, score: score, variance: score_variance}
strategy:
  by: score
  bins: 10
  max_pairs: 1000
  seed: 7
$2
output: {table: pairs_$1}
YAML
    "$PAIRPICK" migrate "$WORK/$1.yaml" >/dev/null 2>&1
    "$PAIRPICK" run "$WORK/$1.yaml" 2>/dev/null | tail -n 1 >"$WORK/$1.json"
    psql -X -At -v line="$(cat "$WORK/$1.json")" <<SQL
SELECT format('%-10s pairs %s  mean|p-1/2| %s (random in-category %s)  mean var_a+var_b %s (%s)  information %s (%s)  cross %s  candidates %s  pairs stage %s s  mean|z| stored %s',
  '$1', j->>'pairs_inserted', round((j->>'mean_p_distance')::numeric, 4), round((j->>'random_mean_p_distance')::numeric, 4),
  round((j->>'mean_variance_sum')::numeric, 4), round((j->>'random_mean_variance_sum')::numeric, 4),
  round((j->>'information_sum')::numeric, 1), round((j->>'random_information_sum')::numeric, 1),
  coalesce(j->>'cross_pairs', '0'), coalesce(j->>'candidates_examined', '-'), j->'stage_seconds'->>'pairs',
  (SELECT round(avg(abs(p.score_a - p.score_b) / sqrt(a.score_variance + b.score_variance + 0.02))::numeric, 4)
     FROM pairs_$1 AS p JOIN demo.images AS a ON a.job_uuid::text = p.image_a
     JOIN demo.images AS b ON b.job_uuid::text = p.image_b))
FROM (SELECT (:'line')::json AS j) AS r;
SQL
}
echo "$IMAGES demo images, 10 quantile score bins, max_pairs 1000, seed 7"
run random ""
run uncertain "  prefer: uncertain"
run bridges "  prefer: uncertain
  explore_fraction: 0.1"
