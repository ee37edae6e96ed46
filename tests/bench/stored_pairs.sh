#!/usr/bin/env bash
# Peak RSS of a score run with 0 and with millions of pairs already stored
# among its rows (issue 14, point 7): the part of tests/bench/run.sh that
# measures large_pairpick_score_stored_0 / _3m, alone, on a throwaway
# PostgreSQL and a smaller selection, in a few minutes.
#
#   tests/bench/stored_pairs.sh [PAIRPICK ...]
#
# Each binary named (default build/pairpick) makes the same runs; one line
# each: rows, stored pairs, peak RSS (/usr/bin/time) with 0 and with the
# stored pairs (the largest of the repeats), and the wall time of each run
# over the stored pairs. Settings:
#   STORED_ROWS=300000     rows of the source table (text ids, a score)
#   STORED_PAIRS=3000000   pairs stored among them
#   STORED_REPEAT=1        runs of each binary over the stored pairs
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROWS=${STORED_ROWS:-300000}
PAIRS=${STORED_PAIRS:-3000000}
REPEAT=${STORED_REPEAT:-1}
[ "$#" -gt 0 ] || set -- "$ROOT/build/pairpick"
for binary in "$@"; do
    [ -x "$binary" ] || { echo "stored_pairs: $binary is not an executable" >&2; exit 64; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-stored.XXXXXX")
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

sql "CREATE TABLE stored_src AS
       SELECT 'img-' || i AS id, random() AS score FROM generate_series(1, $ROWS) AS i"
cat >"$WORK/stored.yaml" <<YAML
job: stored
source: {table: stored_src, id: id, score: score}
strategy: {by: score, bins: 10, max_pairs: 1000, seed: 42}
output: {table: stored_pairs}
YAML
"$1" migrate "$WORK/stored.yaml" >/dev/null

# The pairs of run.sh: image g mod n with the next 1 + g / n images, stored
# under an earlier run (the output table's rows name a recorded run).
store_pairs() { # run-id
    sql "INSERT INTO stored_pairs (image_a, image_b, category, job, run_id)
         SELECT least(a, b), greatest(a, b), 'stored', 'stored', '$1'
           FROM (SELECT 'img-' || (1 + g % $ROWS) AS a,
                        'img-' || (1 + (g % $ROWS + 1 + g / $ROWS) % $ROWS) AS b
                   FROM generate_series(0, $PAIRS - 1) AS g) AS p
         ON CONFLICT DO NOTHING"
}

run_once() { # binary run-id -> "peak_kB seconds"
    local t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$WORK/rss" "$1" run "$WORK/stored.yaml" --run-id "$2" \
        >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
    echo "$(cat "$WORK/rss") $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')"
}

# Every binary's run over an empty output table, then the pairs stored once
# and every binary's run over them, REPEAT times in turn (each such run adds
# its 1,000 pairs to the table: a few more stored pairs for the next).
declare -a rss_0 rss_stored seconds
index=0
for binary in "$@"; do
    sql "TRUNCATE stored_pairs"
    read -r rss_0[index] _ < <(run_once "$binary" "none-$index")
    index=$((index + 1))
done
sql "TRUNCATE stored_pairs"
store_pairs "none-0"
stored=$(sql "SELECT count(*) FROM stored_pairs")
for repeat in $(seq 1 "$REPEAT"); do
    index=0
    for binary in "$@"; do
        read -r rss time < <(run_once "$binary" "stored-$index-$repeat")
        [ "${rss_stored[index]:-0}" -ge "$rss" ] || rss_stored[index]=$rss
        seconds[index]="${seconds[index]:-} $time"
        index=$((index + 1))
    done
done
index=0
for binary in "$@"; do
    printf '%s: %s rows, peak RSS %d MB with 0 stored pairs, %d MB with %s; seconds:%s\n' \
        "$binary" "$ROWS" $((rss_0[index] / 1024)) $((rss_stored[index] / 1024)) "$stored" \
        "${seconds[index]}"
    index=$((index + 1))
done
