#!/usr/bin/env bash
# Stored cluster models, measured (`make bench-models`): on N rows of D-d
# blob embeddings (K centres) in a throwaway PostgreSQL, the wall time and
# peak RSS of
#   fit                    k-means on every row (no PCA)
#   fit, PCA P             PCA to P dimensions, then k-means; variance kept
#   run, clusters_from     assignment to the stored centres while streaming
#   run, clusters_from PCA the same through the PCA model
#   run, fitting           the same job fitting k-means in memory (no model)
# Each run is repeated BENCH_REPEAT times; medians are printed.
#
# Environment: BENCH_N=50000 BENCH_D=768 BENCH_K=50 BENCH_PCA=64 BENCH_REPEAT=3
#              PAIRPICK=build/pairpick
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${BENCH_N:-50000}
D=${BENCH_D:-768}
K=${BENCH_K:-50}
P=${BENCH_PCA:-64}
REPEAT=${BENCH_REPEAT:-3}
PAIRPICK=${PAIRPICK:-$ROOT/build/pairpick}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-bench-models.XXXXXX")

eval "$("$ROOT/tests/tools/pg.sh" start)"
trap '"$ROOT/tests/tools/pg.sh" stop "$PAIRPICK_PGDIR"; rm -rf "$WORK"' EXIT INT TERM

sql() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }

echo "bench-models: generating $N rows of $D-d embeddings around $K centres..." >&2
sql "SELECT setseed(0.42);
     CREATE TABLE centres AS SELECT c, (SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, $D) WHERE c >= 0) AS v
       FROM generate_series(0, $K - 1) AS c;
     CREATE TABLE images AS
       SELECT 'img-' || i AS id, random() AS score,
              (SELECT array_agg((c.v[k] + (random() - 0.5) * 0.6)::real ORDER BY k)
                 FROM generate_series(1, $D) AS k) AS emb
         FROM generate_series(1, $N) AS i JOIN centres AS c ON c.c = i % $K;" >/dev/null

config() { # name, then strategy lines
    local name=$1
    shift
    cat >"$WORK/$name.yaml" <<YAML
job: $name
source: {table: images, id: id, score: score, embedding: emb}
strategy:
  by: embedding
  clusters: $K
  max_pairs: 1000
  seed: 1
$(printf '  %s\n' "$@")
YAML
    echo "$WORK/$name.yaml"
}
plain=$(config plain "clusters_from: plain")
pca=$(config pca "clusters_from: pca" "kmeans: {pca: $P}")
fitting=$(config fitting)
"$PAIRPICK" migrate "$plain" >/dev/null 2>&1

# measure LABEL ARGS...: the median wall seconds and peak RSS (MB) of REPEAT runs.
measure() {
    local label=$1
    shift
    : >"$WORK/times"
    for r in $(seq "$REPEAT"); do
        /usr/bin/time -f '%e %M' -o "$WORK/time" "$PAIRPICK" "$@" >"$WORK/out" 2>"$WORK/err" ||
            { cat "$WORK/err" >&2; exit 1; }
        cat "$WORK/time" >>"$WORK/times"
    done
    wall=$(sort -n "$WORK/times" | awk '{w[NR] = $1} END {print w[int((NR + 1) / 2)]}')
    rss=$(awk '{print $2}' "$WORK/times" | sort -n | awk '{m[NR] = $1} END {printf "%.0f", m[int((NR + 1) / 2)] / 1024}')
    printf '%-28s %8s s %8s MB  %s\n' "$label" "$wall" "$rss" "${NOTE:-}"
}

echo "N=$N D=$D K=$K PCA=$P repeat=$REPEAT load average: $(cut -d' ' -f1-3 /proc/loadavg)"
REPEAT=1 measure "fit" fit "$plain"
REPEAT=1 measure "fit, PCA $P" fit "$pca"
NOTE=$(grep -o 'variance kept [0-9.]*%' "$WORK/err" || true)
echo "                             ($NOTE)"
NOTE=""
measure "run, clusters_from" run "$plain" --dry-run
measure "run, clusters_from PCA $P" run "$pca" --dry-run
measure "run, fitting in memory" run "$fitting" --dry-run
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
