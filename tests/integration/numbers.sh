#!/usr/bin/env bash
# Integration tests of figures that must be right in every corner: every
# row counted once whatever the worker count (NULL and odd ids), a strict
# JSON summary whatever the scores, seeds that survive JSON readers, and
# the default worker count under a CPU affinity mask. A real, throwaway
# PostgreSQL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Parses every line of a file with a strict JSON parser (no NaN/Infinity).
strict_json() { # file
    python3 - "$1" <<'PY'
import json, sys
def refuse(name):
    raise ValueError("not JSON: " + name)
with open(sys.argv[1]) as f:
    for number, line in enumerate(f, 1):
        if line.strip():
            try:
                json.loads(line, parse_constant=refuse)
            except ValueError as e:
                sys.exit("line %d: %s: %s" % (number, e, line.strip()[:200]))
PY
}

# A table of the demo images with text ids, some of them odd: NULL, empty,
# spaces, a long one, non-ASCII; NULL ids are rejected (null_id), the
# others read as any id.
make_odd_ids() {
    sql "CREATE TABLE odd_ids AS SELECT job_uuid::text AS id, score, topic, clip_embedding FROM demo.images;
         INSERT INTO odd_ids SELECT NULL, score, topic, clip_embedding FROM demo.images ORDER BY job_uuid LIMIT 9;
         UPDATE odd_ids SET id = '' WHERE id = (SELECT min(id) FROM odd_ids);
         UPDATE odd_ids SET id = '  ' WHERE id = (SELECT min(id) FROM odd_ids WHERE id <> '');
         UPDATE odd_ids SET id = repeat('x', 300) WHERE id = (SELECT max(id) FROM odd_ids);
         UPDATE odd_ids SET id = 'ümlaut,\"quoted\"' WHERE id = (SELECT max(id) FROM odd_ids WHERE length(id) < 300);" >/dev/null
}

odd_config() { # name workers extra-resources-yaml [strategy-extra]
    write_config "$1" <<YAML
job: $1
source:
  table: odd_ids
  id: id
  score: score
  embedding: clip_embedding
strategy:
  by: embedding
  clusters: 30
  max_pairs: 300
  seed: 4
$4
output:
  table: t_$1
resources:
  workers: $2
$3
YAML
}

# 15.1: rows with NULL ids are rejected, never lost, at any worker count,
# in memory, bounded and through a stored model.
test_null_and_odd_ids_counted_the_same_at_any_worker_count() {
    make_odd_ids
    local mode workers cfg
    for mode in memory bounded assign; do
        for workers in 1 2 3; do
            local name="odd-$mode-$workers" extra="" strategy=""
            [ $mode = bounded ] && extra="  memory_limit: 103MB"
            [ $mode = assign ] && strategy="  clusters_from: odd-model"
            cfg=$(odd_config "$name" "$workers" "$extra" "$strategy")
            pp migrate "$cfg"; expect_status 0
            if [ $mode = assign ] && [ "$workers" = 1 ]; then
                pp fit "$cfg"; expect_status 0
            fi
            pp run "$cfg" --dry-run --rejects "$WORK/$name.csv"; expect_status 0
            echo "$(json_field rows_read) $(json_field rows_skipped) $(json_field candidates)" > "$WORK/$name.counts"
            sort "$WORK/$name.csv" > "$WORK/$name.sorted"
            expect_eq "$(cat "$WORK/$name.counts")" "1509 9 1500" "rows read, skipped, candidates ($mode, $workers workers)"
            expect_eq "$(grep -c null_id "$WORK/$name.sorted")" 9 "null_id rejects ($mode, $workers workers)"
            cmp -s "$WORK/odd-memory-1.sorted" "$WORK/$name.sorted" || fail "rejects differ ($mode, $workers workers)"
        done
    done
}

# 15.2: scores near +-1e308 and variances of 1e308: the JSON line, the xcom
# file and the JSON log parse with a strict parser; what a double can hold
# is a number, what it cannot is null with a warning.
test_summary_is_strict_json_with_extreme_scores() {
    sql "CREATE TABLE extreme AS SELECT job_uuid, topic,
                CASE WHEN row_number() OVER (ORDER BY job_uuid) % 2 = 0 THEN 8e307 ELSE -8e307 END
                  * (1 + random() * 1e-3) AS score,
                1e308::float8 AS score_variance
           FROM demo.images" >/dev/null
    for prefer in random uncertain; do
        cfg=$(write_config "extreme-$prefer" <<YAML
job: extreme-$prefer
source:
  table: extreme
  id: job_uuid
  score: score
  variance: score_variance
strategy:
  by: score
  bins: 2
  max_pairs: 500
  prefer: $prefer
  seed: 3
output:
  table: t_extreme
YAML
)
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --log-format json --xcom-file "$WORK/xcom-$prefer.json"; expect_status 0
        tail -n 1 "$WORK/out" > "$WORK/line-$prefer.json"
        strict_json "$WORK/line-$prefer.json" || fail "JSON line ($prefer)"
        strict_json "$WORK/xcom-$prefer.json" || fail "xcom file ($prefer)"
        strict_json "$WORK/err" || fail "JSON log ($prefer)"
        # differences up to 1.6e308 fit a double: a number, though their sum would not
        grep -q '"random_score_delta":[0-9]' "$WORK/line-$prefer.json" || fail "random_score_delta is not a number ($prefer)"
        grep -q '"mean_variance_sum":null' "$WORK/line-$prefer.json" || fail "mean_variance_sum 2e308 is not null ($prefer)"
        expect_grep 'mean_variance_sum is beyond the range of a double' "$WORK/err"
    done
    # +-1e308: half the random pairs differ by 2e308, yet their mean (about
    # 1e308) fits and is a number; a sum of information beyond a double is
    # null with a warning
    sql "UPDATE extreme SET score = sign(score) * 1e308" >/dev/null
    pp run "$WORK/extreme-uncertain.yaml" --log-format json --run-id max; expect_status 0
    tail -n 1 "$WORK/out" > "$WORK/line-max.json"
    strict_json "$WORK/line-max.json" || fail "JSON line with +-1e308"
    strict_json "$WORK/err" || fail "JSON log with +-1e308"
    grep -q '"random_score_delta":[0-9]' "$WORK/line-max.json" || fail "random_score_delta is not a number"
    grep -q '"information_sum":null' "$WORK/line-max.json" || fail "information_sum is not null"
    expect_grep 'information_sum is beyond the range of a double' "$WORK/err"
}

# 15.2: random seeds are below 2^53; larger seeds are refused with the range.
test_seeds_survive_json_numbers() {
    cfg=$(write_config seeds <<YAML
job: seeds
source:
  table: demo.images
  id: job_uuid
  score: score
strategy:
  by: score
  max_pairs: 10
output:
  table: t_seeds
YAML
)
    pp migrate "$cfg"; expect_status 0
    for i in 1 2 3 4 5 6 7 8; do
        pp run "$cfg" --dry-run; expect_status 0
        seed=$(tail -n 1 "$WORK/out" | grep -o '"seed":[0-9]*' | cut -d: -f2)
        [ "$seed" -lt 9007199254740992 ] || fail "seed $seed is not below 2^53"
    done
    pp run "$cfg" --dry-run --seed 9007199254740991; expect_status 0
    expect_eq "$(tail -n 1 "$WORK/out" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read(), parse_float=float)["seed"])')" 9007199254740991 "largest seed"
    pp run "$cfg" --dry-run --seed 9007199254740992; expect_status 64
    expect_grep 'expected an integer from 0 to 9007199254740991' "$WORK/err"
    sed -i 's/max_pairs: 10/max_pairs: 10\n  seed: 18446744073709551615/' "$cfg"
    pp run "$cfg" --dry-run; expect_status 78
    expect_grep 'strategy.seed: expected an integer from 0 to 9007199254740991' "$WORK/err"
}

# 16.5: the default worker count follows the CPU affinity mask.
test_default_workers_follow_cpu_affinity() {
    command -v taskset >/dev/null || skip "no taskset"
    cfg=$(write_config affinity <<YAML
job: affinity
source:
  table: demo.images
  id: job_uuid
  score: score
  embedding: clip_embedding
strategy:
  by: embedding
  clusters: 5
  max_pairs: 10
output:
  table: t_affinity
YAML
)
    pp migrate "$cfg"; expect_status 0
    set +e
    taskset -c 0 "$PAIRPICK" run "$cfg" --dry-run --verbose --log-format json >"$WORK/out" 2>"$WORK/err"
    STATUS=$?
    set -e
    expect_status 0
    grep '"stage":"read"' "$WORK/err" | grep -q '"default_workers":1,"usable_cpus":1' \
        || fail "one usable CPU under taskset -c 0"
    cpus=$(nproc)
    if [ "$cpus" -ge 2 ]; then
        set +e
        taskset -c 0,1 "$PAIRPICK" run "$cfg" --dry-run --verbose --log-format json >"$WORK/out" 2>"$WORK/err"
        STATUS=$?
        set -e
        expect_status 0
        grep '"stage":"read"' "$WORK/err" | grep -q '"default_workers":2,"usable_cpus":2' \
            || fail "two usable CPUs under taskset -c 0,1"
    fi
}

# 15.6: the same seed gives the same clusters and pairs at any worker count,
# in memory and bounded (a sample of the rows, then every row assigned):
# identical --labels-file and stored pairs at 1, 2, 3 and 5 workers. In
# memory, several workers count nothing first (the demo table has its
# statistics): they claim slots of one matrix as the rows come.
test_same_clusters_and_pairs_at_any_worker_count() {
    local mode workers name extra
    for mode in memory bounded; do
        for workers in 1 2 3 5; do
            name="workers-$mode-$workers" extra=""
            [ $mode = bounded ] && extra="  memory_limit: 103MB"
            cfg=$(write_config "$name" <<YAML
job: $name
source:
  table: demo.images
  id: job_uuid
  score: score
  embedding: clip_embedding
strategy:
  by: embedding
  clusters: 12
  max_pairs: 400
  seed: 11
output:
  table: t_${name//-/_}
resources:
  workers: $workers
$extra
YAML
)
            pp migrate "$cfg"; expect_status 0
            pp run "$cfg" --labels-file "$WORK/$name.labels" --verbose; expect_status 0
            grep -q "reading over $workers connection" "$WORK/err" || fail "not read over $workers connections"
            if [ $mode = memory ] && [ "$workers" -gt 1 ]; then
                expect_grep "nothing counted first" "$WORK/err"
            else
                ! grep -q "nothing counted first" "$WORK/err" || fail "counted as it streamed ($mode, $workers workers)"
            fi
            expect_eq "$(json_field memory_mode)" "$([ $mode = bounded ] && echo bounded || echo in_memory)" "memory mode ($mode, $workers workers)"
            sql "SELECT image_a, image_b, category FROM t_${name//-/_} ORDER BY 1, 2" > "$WORK/$name.pairs"
            expect_eq "$(wc -l < "$WORK/$name.pairs")" 400 "pairs stored ($mode, $workers workers)"
            cmp -s "$WORK/workers-$mode-1.labels" "$WORK/$name.labels" \
                || fail "labels differ from 1 worker ($mode, $workers workers)"
            cmp -s "$WORK/workers-$mode-1.pairs" "$WORK/$name.pairs" \
                || fail "pairs differ from 1 worker ($mode, $workers workers)"
        done
    done
}

# 15.3: with prefer random, max_exposure and max_similarity only remove
# candidates: 300 images in 3 topics give all 14,850 in-topic pairs with
# or without a key that excludes nothing.
test_random_keys_only_remove_candidates() {
    sql "CREATE TABLE three_topics AS
           SELECT job_uuid, score, clip_embedding, 'topic-' || (row_number() OVER (ORDER BY job_uuid) % 3) AS topic
             FROM demo.images ORDER BY job_uuid LIMIT 300" >/dev/null
    local key
    for key in none max_exposure max_similarity; do
        local extra=""
        [ $key = max_exposure ] && extra="  max_exposure: 1000"
        [ $key = max_similarity ] && extra="  max_similarity: 1.0"
        cfg=$(write_config "keys-$key" <<YAML
job: keys-$key
source:
  table: three_topics
  id: job_uuid
  score: score
  category: topic
  embedding: clip_embedding
strategy:
  by: category
  max_pairs: 100000
  seed: 5
$extra
output:
  table: t_keys
YAML
)
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --dry-run; expect_status 0
        expect_eq "$(json_field pairs_available)" 14850 "pairs available ($key)"
        expect_eq "$(json_field pairs_chosen)" 14850 "pairs chosen ($key)"
    done
}

# 15.8: a selection of 0 rows makes 0 categories, whatever clusters says.
test_no_rows_no_categories() {
    cfg=$(write_config no-rows <<YAML
job: no-rows
source:
  table: demo.images
  id: job_uuid
  score: score
  embedding: clip_embedding
filters:
  score: {min: 1000000}
strategy:
  by: embedding
  clusters: 5000
  max_pairs: 100
output:
  table: t_no_rows
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --dry-run; expect_status 0
    expect_eq "$(json_field candidates)" 0 "candidates"
    expect_eq "$(json_field categories)" 0 "categories of 0 rows"
    expect_eq "$(json_field pairs_chosen)" 0 "pairs of 0 rows"
}

# 15.8: in --labels-file an empty category value is "" and an unpaired
# image an empty field: PostgreSQL's COPY CSV reads them as '' and NULL.
test_empty_category_value_is_quoted_in_labels() {
    sql "CREATE TABLE empty_topic AS
           SELECT job_uuid, score, CASE WHEN row_number() OVER (ORDER BY job_uuid) % 2 = 0 THEN '' ELSE 'cats' END AS topic
             FROM demo.images ORDER BY job_uuid LIMIT 20" >/dev/null
    cfg=$(write_config empty-topic <<YAML
job: empty-topic
source:
  table: empty_topic
  id: job_uuid
  score: score
  category: topic
strategy:
  by: category
  max_pairs: 10
output:
  table: t_empty_topic
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --dry-run --labels-file "$WORK/empty-topic.labels"; expect_status 0
    expect_eq "$(grep -c ',""$' "$WORK/empty-topic.labels")" 10 "quoted empty labels"
    sql "CREATE TABLE loaded_labels (id text, label text)" >/dev/null
    psql -X -q -v ON_ERROR_STOP=1 -c "\\copy loaded_labels FROM '$WORK/empty-topic.labels' (FORMAT csv, HEADER)"
    expect_eq "$(sql "SELECT count(*) FILTER (WHERE label = ''), count(*) FILTER (WHERE label IS NULL) FROM loaded_labels")" "10|0" "'' and NULL labels loaded"
}

# 15.8: a memory_limit too small for the bounded sample names the 96 MiB
# the process needs and the smallest limit that would do; that limit runs.
test_memory_limit_too_small_says_what_fits() {
    cfg=$(write_config small-limit <<YAML
job: small-limit
source:
  table: demo.images
  id: job_uuid
  embedding: clip_embedding
strategy:
  by: embedding
  clusters: 12
  max_pairs: 100
output:
  table: t_small_limit
resources:
  memory_limit: 100MB
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --dry-run; expect_status 65
    expect_grep 'cannot hold a sample of 48 embeddings of 768 dimensions (4 per cluster) besides the ids and scores of the 1500 rows (96 bytes each) and the 96 MiB the process itself needs' "$WORK/err"
    expect_grep 'HINT: set resources.memory_limit to at least 101MB, or lower strategy.clusters' "$WORK/err"
    sed -i 's/memory_limit: 100MB/memory_limit: 101MB/' "$cfg"
    pp run "$cfg" --dry-run; expect_status 0
    expect_eq "$(json_field memory_mode)" bounded "memory mode at the smallest limit"
}

# filtered_out, counted in the stream of a run without embeddings, is the
# source count minus the rows its filters keep, whatever NULLs, NaNs and
# duplicates the rows hold; the rows kept are read, rejected by reason, as
# over a plain SELECT. Score, variance and date filters at once; NULL
# variances and dates make the filter NULL (dropped, as WHERE drops them).
test_filtered_out_counted_in_the_stream() {
    sql "CREATE TABLE filter_rows AS SELECT job_uuid, score, score_variance, created_at FROM demo.images;
         ALTER TABLE filter_rows ALTER created_at DROP NOT NULL;
         UPDATE filter_rows SET score_variance = NULL WHERE job_uuid IN (SELECT job_uuid FROM filter_rows ORDER BY job_uuid LIMIT 40);
         UPDATE filter_rows SET created_at = NULL WHERE job_uuid IN (SELECT job_uuid FROM filter_rows ORDER BY job_uuid DESC LIMIT 30);
         UPDATE filter_rows SET score = 'NaN' WHERE job_uuid IN (SELECT job_uuid FROM filter_rows ORDER BY job_uuid OFFSET 100 LIMIT 7);
         UPDATE filter_rows SET score = NULL WHERE job_uuid IN (SELECT job_uuid FROM filter_rows ORDER BY job_uuid OFFSET 200 LIMIT 11);
         INSERT INTO filter_rows SELECT NULL, score, score_variance, created_at FROM filter_rows ORDER BY job_uuid OFFSET 300 LIMIT 13;
         INSERT INTO filter_rows SELECT * FROM filter_rows WHERE job_uuid IS NOT NULL ORDER BY job_uuid OFFSET 400 LIMIT 17;" >/dev/null
    local from to
    from=$(sql "SELECT (min(created_at) + (max(created_at) - min(created_at)) / 10)::date FROM filter_rows")
    to=$(sql "SELECT (max(created_at) - (max(created_at) - min(created_at)) / 10)::date FROM filter_rows")
    cfg=$(write_config filter-rows <<YAML
job: filter-rows
source:
  table: filter_rows
  id: job_uuid
  score: score
  variance: score_variance
  date: created_at
filters:
  score: {min: 1.5, max: 3.5}
  variance: {max: 0.09}
  date: {from: $from, to: $to}
strategy:
  by: score
  bins: 4
  max_pairs: 100
  seed: 3
output:
  table: t_filter_rows
YAML
)
    local kept="(score IS NULL OR score >= 1.5) AND (score IS NULL OR score <= 3.5) AND score_variance <= 0.09
                AND created_at >= '$from'::timestamptz AND created_at < ('$to'::date + 1)"
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --dry-run --rejects "$WORK/filter-rejects.csv"; expect_status 0
    expect_eq "$(json_field filtered_out)" "$(sql "SELECT count(*) FROM filter_rows WHERE NOT coalesce($kept, false)")" "filtered out"
    expect_eq "$(json_field rows_read)" "$(sql "SELECT count(*) FROM filter_rows WHERE $kept")" "rows read"
    expect_eq "$(json_field rows_skipped)" "$(sql "SELECT count(*) FILTER (WHERE job_uuid IS NULL OR score IS NULL OR score = 'NaN')
        + (SELECT count(*) - count(DISTINCT job_uuid) FROM filter_rows WHERE job_uuid IS NOT NULL AND score <> 'NaN' AND $kept)
        FROM filter_rows WHERE $kept")" "rows skipped"
    expect_eq "$(grep -c ',duplicate_id$' "$WORK/filter-rejects.csv")" \
        "$(sql "SELECT count(*) - count(DISTINCT job_uuid) FROM filter_rows WHERE job_uuid IS NOT NULL AND score IS NOT NULL AND score <> 'NaN' AND $kept")" "duplicates"
    # With embeddings over 1 stream (counted first) and over 2 (nothing
    # counted first, the statistics being there: the dropped rows counted as
    # they stream): the same figures and the same rejects.
    sql "ALTER TABLE filter_rows ADD COLUMN clip_embedding real[];
         UPDATE filter_rows f SET clip_embedding = d.clip_embedding FROM demo.images d
          WHERE d.job_uuid = f.job_uuid;
         ANALYZE filter_rows" >/dev/null
    local workers
    for workers in 1 2; do
        sed -e "s/^job: filter-rows/job: filter-rows-$workers/" \
            -e 's/^  score: score$/  score: score\n  embedding: clip_embedding/' \
            -e 's/^  by: score$/  by: embedding\n  clusters: 4/' -e '/^  bins: 4$/d' \
            -e "s/^output:/resources:\n  workers: $workers\noutput:/" "$cfg" >"$cfg.$workers"
        pp run "$cfg.$workers" --dry-run --verbose --rejects "$WORK/filter-rejects.$workers.csv"
        expect_status 0
        tail -n 1 "$WORK/out" >"$WORK/filter-summary.$workers"
        sort "$WORK/filter-rejects.$workers.csv" >"$WORK/filter-rejects.$workers.sorted"
    done
    expect_grep "nothing counted first" "$WORK/err"
    local field
    for field in filtered_out rows_read rows_skipped; do
        expect_eq "$(cp "$WORK/filter-summary.2" "$WORK/out"; json_field $field)" \
            "$(cp "$WORK/filter-summary.1" "$WORK/out"; json_field $field)" "$field, 2 streams against 1"
    done
    cmp -s "$WORK/filter-rejects.1.sorted" "$WORK/filter-rejects.2.sorted" \
        || fail "rejects differ between 1 and 2 streams"
    # no filters: nothing filtered out, every row read
    sed -i '/^filters:/,/^  date:/d' "$cfg"
    pp run "$cfg" --dry-run; expect_status 0
    expect_eq "$(json_field filtered_out)" 0 "filtered out without filters"
    expect_eq "$(json_field rows_read)" "$(sql "SELECT count(*) FROM filter_rows")" "rows read without filters"
}

start_server_with_demo 1500
run_tests "$@"
