#!/usr/bin/env bash
# Peak RSS and wall time of a score run (10 quantile bins, 1,000 pairs, text
# ids) with each strategy.prefer, for one or more pairpick binaries side by
# side, on a throwaway PostgreSQL: what prefer informative costs against
# prefer random on the same rows.
#
#   tests/bench/prefer_memory.sh [PAIRPICK ...]
#
# Each binary named (default build/pairpick) runs every policy over every
# table size, PREFER_REPEAT times in turn (binaries and policies
# interleaved, so load on the machine falls on all alike); the output table
# is emptied before each run, so every run sees the same state. One line per
# (rows, binary, policy): the median peak RSS (/usr/bin/time) and wall
# time, then every run's. Settings:
#   PREFER_ROWS="300000 1000000"   rows of the source tables
#   PREFER_POLICIES="random informative"
#   PREFER_REPEAT=3
#   PREFER_PAIRS=1000              max_pairs
#   PREFER_MEMORY_LIMIT=           resources.memory_limit, when set
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIZES=${PREFER_ROWS:-300000 1000000}
POLICIES=${PREFER_POLICIES:-random informative}
REPEAT=${PREFER_REPEAT:-3}
PAIRS=${PREFER_PAIRS:-1000}
LIMIT=${PREFER_MEMORY_LIMIT:-}
[ "$#" -gt 0 ] || set -- "$ROOT/build/pairpick"
for binary in "$@"; do
    [ -x "$binary" ] || { echo "prefer_memory: $binary is not an executable" >&2; exit 64; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-prefer.XXXXXX")
PAIRPICK_PGDIR=""
cleanup() {
    [ -z "$PAIRPICK_PGDIR" ] || "$ROOT/tests/tools/pg.sh" stop "$PAIRPICK_PGDIR" || true
    rm -rf "$WORK"
}
trap cleanup EXIT
eval "$("$ROOT/tests/tools/pg.sh" start)"

sql() {
    psql -X -At -q -v ON_ERROR_STOP=1 -c "$1"
}

config() { # rows prefer -> path
    local path="$WORK/prefer-$1-$2.yaml"
    {
        echo "job: prefer-$1-$2"
        echo "source: {table: prefer_src_$1, id: id, score: score}"
        echo "strategy: {by: score, bins: 10, max_pairs: $PAIRS, seed: 42, prefer: $2}"
        echo "output: {table: prefer_pairs_$1}"
        [ -z "$LIMIT" ] || echo "resources: {memory_limit: $LIMIT}"
    } >"$path"
    echo "$path"
}

median() {
    tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

declare -A rss seconds
run=0
for rows in $SIZES; do
    sql "CREATE TABLE prefer_src_$rows AS
           SELECT 'img-' || i AS id, random() AS score FROM generate_series(1, $rows) AS i"
    for prefer in $POLICIES; do
        "$1" migrate "$(config "$rows" "$prefer")" >/dev/null 2>&1
    done
    for repeat in $(seq 1 "$REPEAT"); do
        index=0
        for binary in "$@"; do
            for prefer in $POLICIES; do
                sql "TRUNCATE prefer_pairs_$rows"
                run=$((run + 1))
                t0=$EPOCHREALTIME
                /usr/bin/time -f %M -o "$WORK/rss" "$binary" run "$(config "$rows" "$prefer")" \
                    --run-id "r$run" >"$WORK/out" 2>"$WORK/err" \
                    || { cat "$WORK/err" >&2; exit 1; }
                key="$rows $index $prefer"
                rss[$key]="${rss[$key]:-} $(($(cat "$WORK/rss") / 1024))"
                seconds[$key]="${seconds[$key]:-} $(awk -v a="$t0" -v b="$EPOCHREALTIME" \
                    'BEGIN {printf "%.2f", b - a}')"
            done
            index=$((index + 1))
        done
    done
done
for rows in $SIZES; do
    index=0
    for binary in "$@"; do
        for prefer in $POLICIES; do
            key="$rows $index $prefer"
            printf '%s rows, %s, prefer %s: median peak RSS %s MB, %s s (runs: MB%s; s%s)\n' \
                "$rows" "$binary" "$prefer" "$(echo "${rss[$key]}" | median)" \
                "$(echo "${seconds[$key]}" | median)" "${rss[$key]}" "${seconds[$key]}"
        done
        index=$((index + 1))
    done
done
