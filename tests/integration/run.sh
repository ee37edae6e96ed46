#!/usr/bin/env bash
# Integration tests: the real binary against a real, throwaway PostgreSQL
# (started here, removed at the end). Usage: run.sh [test_name ...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# A config for the demo images; $1 job, $2 output table, then extra YAML.
demo_config() {
    local job=$1 table=$2
    shift 2
    write_config "$job" <<YAML
job: $job
source:
  table: demo.images
  id: job_uuid
  score: score
  variance: score_variance
  date: created_at
  category: topic
  embedding: clip_embedding
$(printf '%s\n' "$@")
output:
  table: $table
YAML
}

# prefer: random, not the default informative: these tests are about random
# pairs in quantile bins (pairs per bin, every pair of a bin available).
score_strategy='strategy:
  by: score
  bins: 10
  binning: quantile
  prefer: random
  max_pairs: 300
  seed: 7'

test_help_and_version() {
    pp --help; expect_status 0; expect_grep "Usage:" "$WORK/out"
    pp --version; expect_status 0; expect_grep "^pairpick [0-9]" "$WORK/out"
    pp run --help; expect_status 0; expect_grep "Usage:" "$WORK/out"
}

test_usage_errors_exit_64() {
    pp; expect_status 64
    pp frobnicate x.yaml; expect_status 64; expect_grep 'unknown command "frobnicate"' "$WORK/err"
    pp run; expect_status 64; expect_grep "missing CONFIG" "$WORK/err"
    pp run x.yaml --bogus; expect_status 64; expect_grep 'unknown option' "$WORK/err"
    pp run x.yaml --max-pairs 0; expect_status 64; expect_grep 'invalid value "0" for option --max-pairs' "$WORK/err"
    pp run x.yaml --seed; expect_status 64
    pp check x.yaml --dry-run; expect_status 64; expect_grep "does not apply" "$WORK/err"
    [ ! -s "$WORK/out" ] || fail "usage errors print nothing on stdout"
}

test_migrate_twice() {
    # a database of its own, so that no other test has migrated it yet
    sql "CREATE DATABASE migrate_twice" >/dev/null
    export PGDATABASE=migrate_twice
    cfg=$(demo_config mig t_migrate "$score_strategy")
    pp migrate "$cfg"; expect_status 0
    expect_eq "$(json_field applied)" "$(ls "$ROOT"/sql/[0-9]*.sql | wc -l)" "first migrate applies every migration"
    pp migrate "$cfg"; expect_status 0
    expect_eq "$(json_field applied)" 0 "second migrate is a no-op"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_migrations")" "$(sql "SELECT count(*) FROM pairpick_migrations")" "ledger"
    # keyed by the table's identity (schema.table), whatever the spelling
    expect_eq "$(sql "SELECT count(*) FROM pairpick_migrations WHERE target = 'public.t_migrate'")" \
        "$(grep -l @OUTPUT_TABLE@ "$ROOT"/sql/[0-9]*.sql | wc -l)" "each per-table migration recorded once"
}

test_run_without_migrate_is_config_error() {
    cfg=$(demo_config nomig t_never_migrated "$score_strategy")
    pp run "$cfg"; expect_status 78; expect_grep "pairpick migrate" "$WORK/err"
}

test_score_run_inserts_pairs_within_quantile_bins() {
    cfg=$(demo_config score-a t_score "$score_strategy" 'filters:
  score: {min: 0.5, max: 4.5}
  variance: {max: 0.07}')
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id r1; expect_status 0
    expect_eq "$(json_field status)" succeeded "status"
    expect_eq "$(json_field pairs_inserted)" 300 "pairs inserted"
    expect_eq "$(sql "SELECT count(*) FROM t_score")" 300 "rows in the table"
    # image_a < image_b in byte order, no self pairs, 10 bins used
    expect_eq "$(sql "SELECT count(*) FROM t_score WHERE NOT (image_a < image_b COLLATE \"C\")")" 0 "ordered pairs"
    expect_eq "$(sql "SELECT count(DISTINCT category) FROM t_score")" 10 "categories used"
    # both images of a pair in the same bin: bins do not overlap in score
    overlaps=$(sql "WITH s AS (SELECT category, least(min(score_a), min(score_b)) lo,
                         greatest(max(score_a), max(score_b)) hi FROM t_score GROUP BY category)
                    SELECT count(*) FROM s a JOIN s b ON a.category < b.category
                     AND a.lo <= b.hi AND b.lo <= a.hi")
    expect_eq "$overlaps" 0 "score ranges of bins overlap"
    # filters applied, scores stored match the source
    expect_eq "$(sql "SELECT count(*) FROM t_score p JOIN demo.images a ON a.job_uuid::text = p.image_a
                       JOIN demo.images b ON b.job_uuid::text = p.image_b
                      WHERE a.score <> p.score_a OR b.score <> p.score_b
                         OR a.score_variance > 0.07 OR b.score < 0.5 OR a.score > 4.5")" 0 "filters and stored scores"
    expect_eq "$(sql "SELECT status || ' ' || pairs_inserted || ' ' || seed FROM pairpick_runs WHERE job = 'score-a' AND run_id = 'r1'")" "succeeded 300 7" "run record"
    # balance: 300 pairs over 10 bins -> 30 each
    expect_eq "$(sql "SELECT min(n) || ' ' || max(n) FROM (SELECT count(*) n FROM t_score GROUP BY category) c")" "30 30" "pairs per bin"
}

test_second_run_never_reproposes() {
    cfg=$(demo_config score-b t_again "$score_strategy")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id first --seed 1; expect_status 0
    pp run "$cfg" --run-id second --seed 1 --verbose; expect_status 0
    # a queue smaller than 32 times the selection is read whole
    expect_grep "stored pairs read whole" "$WORK/err"
    expect_eq "$(json_field pairs_chosen)" 300 "second run chose a full budget"
    expect_eq "$(json_field pairs_inserted)" 300 "all of them new"
    expect_eq "$(sql "SELECT count(*) FROM t_again")" 600 "rows after two runs"
    expect_eq "$(sql "SELECT count(*) FROM t_again a JOIN t_again b ON a.image_a = b.image_b AND a.image_b = b.image_a")" 0 "no reversed duplicates"
    # A queue over 32 times the selection takes the other path (the selected
    # ids uploaded and joined against the queue); both paths must find the
    # same stored pairs. Most pairs among a narrow selection are stored
    # first, so a path that missed them would offer them again.
    local range="score BETWEEN 1.0 AND 1.04"
    narrow=$(demo_config score-b2 t_again 'strategy:
  by: score
  bins: 1
  prefer: random
  max_pairs: 100000
  seed: 2' 'filters:
  score: {min: 1.0, max: 1.04}')
    pp run "$narrow" --run-id narrow-empty --dry-run; expect_status 0
    n=$(json_field candidates)
    [ "$n" -ge 6 ] && [ $(( n * 32 )) -lt 600 ] || fail "the narrow selection ($n) should be 6 to 18 images"
    sql "INSERT INTO t_again (image_a, image_b, category, job, run_id)
         SELECT a.job_uuid::text, b.job_uuid::text, 'old', 'score-b', 'first'
           FROM demo.images a JOIN demo.images b ON a.job_uuid::text < b.job_uuid::text
          WHERE a.$range AND b.$range AND (hashtext(a.job_uuid::text || b.job_uuid::text) & 3) <> 0
         ON CONFLICT DO NOTHING" >/dev/null
    # The other pairs stored spelt in capitals (by some other writer): text
    # the database holds as other ids, so neither path may count them.
    sql "INSERT INTO t_again (image_a, image_b, category, job, run_id)
         SELECT upper(a.job_uuid::text), upper(b.job_uuid::text), 'spelt', 'score-b', 'first'
           FROM demo.images a JOIN demo.images b ON a.job_uuid::text < b.job_uuid::text
          WHERE a.$range AND b.$range AND (hashtext(a.job_uuid::text || b.job_uuid::text) & 3) = 0" >/dev/null
    pp run "$narrow" --run-id narrow-joined --dry-run --verbose; expect_status 0
    expect_grep "selected ids joined against the stored pairs" "$WORK/err"
    joined=$(json_field pairs_available)
    [ "$joined" -lt $(( n * (n - 1) / 2 )) ] || fail "the joined read found no stored pair ($joined available)"
    # max_exposure: each path counts every pending pair an image is in (as
    # image_a or image_b); the cap puts about half the narrow images at it,
    # so a count that missed some pairs would cap fewer. Then the same
    # stored pairs, the others gone: the queue is read whole.
    local shown_sql="SELECT (SELECT count(*) FROM t_again AS p WHERE p.status = 'pending'
                              AND i.job_uuid::text IN (p.image_a, p.image_b)) AS shown
                       FROM demo.images AS i WHERE i.$range"
    local way most capped
    for way in joined whole; do
        [ "$way" = joined ] || sql "DELETE FROM t_again WHERE category NOT IN ('old', 'spelt')" >/dev/null
        most=$(sql "WITH s AS ($shown_sql),
                         c AS (SELECT t.shown, (SELECT count(*) FROM s WHERE s.shown >= t.shown) AS capped
                                 FROM (SELECT DISTINCT shown FROM s WHERE shown > 0) AS t)
                    SELECT shown FROM c WHERE capped > 0 AND capped < $n
                     ORDER BY abs(capped - $n / 2.0), shown LIMIT 1")
        capped=$(sql "SELECT count(*) FROM ($shown_sql) AS s WHERE shown >= $most")
        [ "$capped" -gt 0 ] && [ "$capped" -lt "$n" ] \
            || fail "max_exposure $most should cap some of the $n images ($capped, $way)"
        sed "s/^  seed: 2\$/  seed: 2\n  max_exposure: $most/" "$narrow" >"$WORK/narrow-exposure.yaml"
        pp run "$WORK/narrow-exposure.yaml" --run-id "narrow-exposure-$way" --dry-run --verbose
        expect_status 0
        if [ "$way" = joined ]; then
            expect_grep "selected ids joined against the stored pairs" "$WORK/err"
        else
            expect_grep "stored pairs read whole" "$WORK/err"
        fi
        expect_eq "$(json_field capped_images)" "$capped" "images at max_exposure $most, $way"
    done
    pp run "$narrow" --run-id narrow-whole --dry-run --verbose; expect_status 0
    expect_grep "stored pairs read whole" "$WORK/err"
    expect_eq "$(json_field pairs_available)" "$joined" "pairs available, read whole and joined"
    expect_eq "$(json_field pairs_available)" \
        "$(( n * (n - 1) / 2 - $(sql "SELECT count(*) FROM t_again WHERE category <> 'spelt'") ))" \
        "available = all pairs minus those stored"
    expect_eq "$(json_field pairs_chosen)" "$joined" "every pair not stored is chosen"
}

test_rerun_of_succeeded_run_id_does_nothing() {
    cfg=$(demo_config score-c t_rerun "$score_strategy")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id same; expect_status 0
    pp run "$cfg" --run-id same; expect_status 0
    expect_eq "$(json_field status)" already_succeeded "status of the rerun"
    expect_eq "$(json_field pairs_inserted)" 300 "the rerun reports the first run's counts"
    expect_eq "$(sql "SELECT count(*) FROM t_rerun")" 300 "nothing added"
}

test_category_run_pairs_within_topic() {
    cfg=$(demo_config cat-a t_category 'strategy:
  by: category
  max_pairs: 450
  seed: 3')
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id c1; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_category")" 450 "pairs"
    expect_eq "$(sql "SELECT count(*) FROM t_category p JOIN demo.images a ON a.job_uuid::text = p.image_a
                       JOIN demo.images b ON b.job_uuid::text = p.image_b
                      WHERE a.topic <> b.topic OR p.category <> a.topic")" 0 "pairs across topics"
    expect_eq "$(sql "SELECT count(DISTINCT category) FROM t_category")" 30 "every topic used"
    expect_eq "$(sql "SELECT max(n) - min(n) FROM (SELECT count(*) n FROM t_category GROUP BY category) c")" 0 "15 pairs per topic"
}

test_failing_run_leaves_no_rows() {
    cfg=$(demo_config fail-a t_fail "$score_strategy")
    pp migrate "$cfg"; expect_status 0
    sql "CREATE FUNCTION t_fail_boom() RETURNS trigger LANGUAGE plpgsql AS
         \$\$ BEGIN IF (SELECT count(*) FROM t_fail) >= 0 THEN RAISE EXCEPTION 'boom on insert'; END IF; RETURN NEW; END \$\$;
         CREATE TRIGGER boom AFTER INSERT ON t_fail FOR EACH ROW EXECUTE FUNCTION t_fail_boom();" >/dev/null
    pp run "$cfg" --run-id doomed
    [ "$STATUS" -ne 0 ] || fail "a failing insert must fail the run"
    expect_grep "boom on insert" "$WORK/err"
    expect_eq "$(json_field status)" failed "status"
    expect_eq "$(sql "SELECT count(*) FROM t_fail")" 0 "rows left by the failed run"
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE job = 'fail-a' AND run_id = 'doomed'")" failed "run record"
    expect_grep "boom on insert" <(sql "SELECT error FROM pairpick_runs WHERE job = 'fail-a' AND run_id = 'doomed'")
    sql "DROP TRIGGER boom ON t_fail" >/dev/null
    pp run "$cfg" --run-id doomed; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_fail")" 300 "the failed run id runs again"
}

test_dry_run_writes_nothing() {
    cfg=$(demo_config dry-a t_dry "$score_strategy")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --dry-run --run-id dry; expect_status 0
    expect_eq "$(json_field status)" dry_run "status"
    expect_eq "$(json_field pairs_chosen)" 300 "pairs chosen"
    expect_eq "$(sql "SELECT count(*) FROM t_dry")" 0 "rows written"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE job = 'dry-a'")" 0 "run records written"
    [ "$(grep -c '	score:' "$WORK/err")" -eq 300 ] || fail "dry run prints the 300 pairs"
}

test_seed_makes_runs_reproducible() {
    cfg=$(demo_config seed-a t_seed "$score_strategy")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --dry-run --seed 99; grep '	score:' "$WORK/err" | sort > "$WORK/one"
    pp run "$cfg" --dry-run --seed 99; grep '	score:' "$WORK/err" | sort > "$WORK/two"
    pp run "$cfg" --dry-run --seed 100; grep '	score:' "$WORK/err" | sort > "$WORK/three"
    cmp -s "$WORK/one" "$WORK/two" || fail "same seed, different pairs"
    ! cmp -s "$WORK/one" "$WORK/three" || fail "different seeds, same pairs"
}

# A server that would run the source query as a parallel plan (Gather)
# returns rows in a different order each time; k-means sees rows in the
# order they arrive, so the job reads without parallel query (and without
# synchronized scans) to keep "same seed, same rows: same pairs".
test_same_seed_same_pairs_when_the_server_would_scan_in_parallel() {
    sql "CREATE TABLE par_query AS SELECT * FROM demo.images; ALTER TABLE par_query SET (parallel_workers = 4)" >/dev/null
    for workers in 1 2; do
        cfg=$(write_config "parq$workers" <<YAML
job: parq-$workers
database:
  conninfo: "options='-c parallel_setup_cost=0 -c parallel_tuple_cost=0 -c min_parallel_table_scan_size=0 -c parallel_leader_participation=off'"
source:
  table: par_query
  id: job_uuid
  score: score
  embedding: clip_embedding
strategy:
  by: embedding
  clusters: 12
  max_pairs: 500
output:
  table: t_parq
resources:
  workers: $workers
YAML
)
        pp migrate "$cfg"; expect_status 0
        for attempt in 1 2 3; do
            pp run "$cfg" --dry-run --seed 5; expect_status 0
            grep '	cluster:' "$WORK/err" > "$WORK/parq$workers.$attempt"
        done
        expect_eq "$(wc -l < "$WORK/parq$workers.1")" 500 "pairs"
        for attempt in 2 3; do
            cmp -s "$WORK/parq$workers.1" "$WORK/parq$workers.$attempt" \
                || fail "same seed, different pairs ($workers workers, run $attempt)"
        done
    done
}

test_quantile_pairs_close_in_score() {
    # Acceptance: mean |score delta| of chosen pairs <= 1/4 of random pairs.
    cfg=$(demo_config close-a t_close "$score_strategy")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    ratio=$(sql "SELECT round(($(json_field mean_score_delta) / $(json_field random_score_delta))::numeric, 4)")
    echo "    mean |score delta| chosen/random = $ratio"
    [ "$(sql "SELECT $ratio <= 0.25")" = t ] || fail "ratio $ratio above 0.25"
    expect_grep "|score delta|" "$WORK/err"
}

test_max_pairs_override_and_null_scores_counted() {
    cfg=$(demo_config over-a t_over "$score_strategy")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --max-pairs 5; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_over")" 5 "--max-pairs 5"
    expect_eq "$(sql "SELECT count(DISTINCT category) FROM t_over")" 5 "5 pairs in 5 bins"
    nulls=$(sql "SELECT count(*) FROM demo.images WHERE score IS NULL")
    expect_eq "$(sql "SELECT rows_skipped FROM pairpick_runs WHERE job = 'over-a'")" "$nulls" "NULL scores skipped and counted"
    expect_grep "null_score $nulls" "$WORK/err"
}

test_bad_config_exits_78_with_line() {
    bad=$(write_config bad <<'YAML'
job: bad
source:
  table: demo.images
  id: job_uuid
  score: score
strategy:
  by: score
  bins: 0
YAML
)
    pp migrate "$(demo_config good t_good "$score_strategy")"; expect_status 0
    pp run "$bad"; expect_status 78
    expect_grep "bad.yaml:8:9" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE job = 'bad'")" 0 "nothing written"
    pp check "$bad"; expect_status 78
    missing=$(write_config missing <<'YAML'
job: missing
source:
  table: demo.images
  id: job_uuid
strategy:
  by: score
YAML
)
    pp check "$missing"; expect_status 78; expect_grep "missing.yaml:6" "$WORK/err"
}

test_check_db_and_explain() {
    cfg=$(demo_config check-a t_check "$score_strategy" 'filters:
  score: {min: 1.5}
  date: {last: 7d}')
    pp check "$cfg"; expect_status 0
    pp check "$cfg" --db; expect_status 78   # not migrated yet
    pp migrate "$cfg"; expect_status 0
    pp check "$cfg" --db; expect_status 0
    pp explain "$cfg"; expect_status 0
    expect_grep '\$1' "$WORK/out"
    expect_grep '"demo"."images"' "$WORK/out"
    grep -q "1.5" <(grep -v '^--' "$WORK/out") && fail "filter value inside the SQL text"
    wrong=$(demo_config check-b t_check "$score_strategy" | xargs sed -i 's/id: job_uuid/id: no_such_column/')
    pp check "$WORK/check-b.yaml" --db; expect_status 78; expect_grep "no_such_column" "$WORK/err"
    # an embedding column pairpick cannot read is found before any run
    bad=$(demo_config check-c t_check 'strategy:
  by: embedding
  clusters: 5' | xargs sed -i 's/embedding: clip_embedding/embedding: topic/')
    pp check "$WORK/check-c.yaml" --db; expect_status 78
    expect_grep "source.embedding has a type" "$WORK/err"
    expect_grep 'embedding: topic::real\[\]' "$WORK/err"
}

test_hostile_table_names_are_quoted() {
    sql 'CREATE TABLE "odd; DROP TABLE demo.images; --" (id text, "sc""ore" float8)' >/dev/null
    sql "INSERT INTO \"odd; DROP TABLE demo.images; --\" SELECT 'img' || i, i % 7 FROM generate_series(1, 50) i" >/dev/null
    # ids that COPY's text format must escape
    sql "INSERT INTO \"odd; DROP TABLE demo.images; --\" VALUES (E'back\\\\slash', 3), (E'tab\\there', 3), (E'new\\nline', 3)" >/dev/null
    cfg=$(write_config hostile <<'YAML'
job: hostile
source:
  table: '"odd; DROP TABLE demo.images; --"'
  id: id
  score: sc"ore
strategy:
  by: score
  bins: 3
  max_pairs: 20
output:
  table: 'public."pairs; DROP TABLE pairpick_runs"'
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(sql 'SELECT count(*) FROM public."pairs; DROP TABLE pairpick_runs"')" 20 "pairs in the odd table"
    pp run "$cfg" --max-pairs 1000; expect_status 0   # every remaining pair, none twice
    expect_eq "$(json_field pairs_inserted)" "$(json_field pairs_chosen)" "no pair proposed twice"
    escaped=$(cat <<'SQL'
SELECT count(DISTINCT id) FROM (SELECT image_a AS id FROM public."pairs; DROP TABLE pairpick_runs"
       UNION SELECT image_b FROM public."pairs; DROP TABLE pairpick_runs") AS ids
 WHERE id IN (E'back\\slash', E'tab\there', E'new\nline')
SQL
)
    expect_eq "$(sql "$escaped")" 3 "escaped ids stored as they are"
    expect_eq "$(sql "SELECT to_regclass('demo.images') IS NOT NULL AND to_regclass('pairpick_runs') IS NOT NULL")" t "tables intact"
}

test_exit_69_when_unreachable() {
    cfg=$(write_config unreachable <<YAML
job: unreachable
database:
  conninfo: "host=$WORK/nowhere port=1 connect_timeout=1"
  connect_retries: 1
source:
  table: demo.images
  id: job_uuid
  score: score
strategy:
  by: score
YAML
)
    pp run "$cfg"; expect_status 69
    expect_grep "attempt 2 of 2" "$WORK/err"
}

# A database that does not exist is not a fault another attempt can fix: 78
# at once, no retries, no run record anywhere.
test_missing_database_is_a_config_error_not_retried() {
    cfg=$(write_config nodb <<YAML
job: nodb
database:
  conninfo: "host=$PGHOST port=$PGPORT dbname=pairpick_no_such_db"
  connect_retries: 5
source:
  table: demo.images
  id: job_uuid
  score: score
strategy:
  by: score
YAML
)
    local start=$SECONDS
    pp run "$cfg"; expect_status 78
    expect_grep 'database "pairpick_no_such_db" does not exist' "$WORK/err"
    expect_grep "not retried" "$WORK/err"
    ! grep -q "attempt 2" "$WORK/err" || fail "retried"
    [ $((SECONDS - start)) -lt 5 ] || fail "took $((SECONDS - start)) s: retried?"
}

embedding_strategy='strategy:
  by: embedding
  clusters: 30
  kmeans: {algorithm: minibatch, n_init: 2, metric: cosine}
  max_pairs: 300
  seed: 5'

# Pairs whose two images come from different demo topics.
cross_topic_pairs() { # table
    sql "SELECT count(*) FROM $1 p JOIN demo.images a ON a.job_uuid::text = p.image_a
          JOIN demo.images b ON b.job_uuid::text = p.image_b WHERE a.topic <> b.topic"
}

test_embedding_run_real_array() {
    cfg=$(demo_config emb-a t_emb "$embedding_strategy")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_emb")" 300 "pairs"
    expect_eq "$(sql "SELECT count(DISTINCT category) FROM t_emb")" 30 "clusters used"
    # the demo's topics are well separated: one cluster per topic
    expect_eq "$(cross_topic_pairs t_emb)" 0 "pairs across topics"
    expect_eq "$(sql "SELECT count(*) FROM (SELECT p.category FROM t_emb p JOIN demo.images a
                 ON a.job_uuid::text = p.image_a GROUP BY p.category HAVING count(DISTINCT a.topic) > 1) c")" 0 "a cluster spans topics"
    chosen=$(json_field mean_cosine_similarity); random=$(json_field random_cosine_similarity)
    [ "$(sql "SELECT $chosen > $random + 0.2")" = t ] || fail "chosen pairs ($chosen) not more alike than random ($random)"
    expect_grep "clusters        k=30" "$WORK/err"
    expect_eq "$(json_field clusters)" 30 "clusters in JSON"
}

test_embedding_run_bytea() {
    cfg=$(demo_config emb-b t_emb_bytea "$embedding_strategy")
    sed -i 's/embedding: clip_embedding/embedding: clip_bytes/' "$cfg"
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_emb_bytea")" 300 "pairs"
    expect_eq "$(cross_topic_pairs t_emb_bytea)" 0 "pairs across topics"
    # same seed, same data as real[]: the same pairs
    cfg2=$(demo_config emb-c t_emb_array "$embedding_strategy")
    pp migrate "$cfg2"; expect_status 0
    pp run "$cfg2"; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM (SELECT image_a, image_b FROM t_emb_bytea
                      EXCEPT SELECT image_a, image_b FROM t_emb_array) d")" 0 "bytea and real[] give the same pairs"
}

test_parallel_streaming_reads_the_same_rows() {
    sql "CREATE TABLE par_emb AS SELECT * FROM demo.images;
         INSERT INTO par_emb SELECT * FROM demo.images ORDER BY job_uuid LIMIT 7;  -- duplicate ids
         UPDATE par_emb SET clip_embedding[3] = NULL WHERE job_uuid IN (SELECT job_uuid FROM demo.images ORDER BY job_uuid DESC LIMIT 5);" >/dev/null
    for workers in 1 3; do
        cfg=$(write_config "par$workers" <<YAML
job: par-$workers
source:
  table: par_emb
  id: job_uuid
  score: score
  embedding: clip_embedding
strategy:
  by: embedding
  clusters: 30
  max_pairs: 300
  seed: 4
output:
  table: t_par_emb_$workers
resources:
  workers: $workers
YAML
)
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --rejects "$WORK/rejects$workers.csv"; expect_status 0
        echo "$(json_field rows_read) $(json_field rows_skipped) $(json_field candidates)" > "$WORK/counts$workers"
        sort "$WORK/rejects$workers.csv" > "$WORK/rejects$workers.sorted"
        expect_eq "$(cross_topic_pairs t_par_emb_$workers)" 0 "pairs across topics with $workers workers"
    done
    expect_eq "$(cat "$WORK/counts3")" "$(cat "$WORK/counts1")" "rows read, skipped, candidates"
    expect_eq "$(cat "$WORK/counts1")" "1507 12 1495" "counts"
    cmp -s "$WORK/rejects1.sorted" "$WORK/rejects3.sorted" || fail "rejects differ between 1 and 3 workers"
    pp run "$WORK/par3.yaml" --dry-run --seed 9; grep '	cluster:' "$WORK/err" | sort > "$WORK/p1"
    pp run "$WORK/par3.yaml" --dry-run --seed 9; grep '	cluster:' "$WORK/err" | sort > "$WORK/p2"
    cmp -s "$WORK/p1" "$WORK/p2" || fail "parallel runs with one seed differ"
}

test_bounded_memory_fits_on_a_sample_and_assigns_all() {
    for limit in 2GB 103MB; do
        table=$(echo "t_bounded_$limit" | tr 'A-Z' 'a-z')
        cfg=$(demo_config "bounded-$limit" "$table" "$embedding_strategy" 'resources:
  memory_limit: '"$limit"'
  workers: 1')
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --rejects "$WORK/bounded-$limit.csv"; expect_status 0
        echo "$(json_field rows_read) $(json_field rows_skipped) $(json_field candidates) $(json_field pairs_inserted)" > "$WORK/bounded-$limit.counts"
        expect_eq "$(cross_topic_pairs "$table")" 0 "pairs across topics with memory_limit $limit"
    done
    expect_grep "memory          bounded" "$WORK/err"
    expect_eq "$(json_field memory_mode)" bounded "mode of the small limit"
    expect_eq "$(cat "$WORK/bounded-103MB.counts")" "$(cat "$WORK/bounded-2GB.counts")" "same rows either way"
    cmp -s "$WORK/bounded-2GB.csv" "$WORK/bounded-103MB.csv" || fail "rejects differ"
    # a limit too small for any sample is a clear data error
    sed -i 's/memory_limit: 103MB/memory_limit: 50MB/' "$WORK/bounded-103MB.yaml"
    pp run "$WORK/bounded-103MB.yaml"; expect_status 65
    expect_grep "memory_limit" "$WORK/err"
}

# Bounded mode over several connections: each partition keeps its share of
# the sample and assigns its own rows; the rows, rejects and topics come out
# as with one stream, and the same seed gives the same pairs.
test_bounded_memory_over_three_workers() {
    for workers in 1 3; do
        cfg=$(demo_config "bounded-w$workers" "t_bounded_w$workers" "$embedding_strategy" 'resources:
  memory_limit: 103MB
  workers: '"$workers")
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --rejects "$WORK/bounded-w$workers.csv" --labels-file "$WORK/bounded-w$workers-labels.csv"
        expect_status 0
        expect_eq "$(json_field memory_mode)" bounded "mode with $workers workers"
        echo "$(json_field rows_read) $(json_field rows_skipped) $(json_field candidates) $(json_field pairs_inserted)" > "$WORK/bounded-w$workers.counts"
        sort "$WORK/bounded-w$workers.csv" > "$WORK/bounded-w$workers.sorted"
        expect_eq "$(cross_topic_pairs "t_bounded_w$workers")" 0 "pairs across topics with $workers workers"
        expect_eq "$(labels_per_topic "$WORK/bounded-w$workers-labels.csv")" "0 0 30" \
            "topics split or unknown ids, and labels used, with $workers workers"
    done
    expect_eq "$(cat "$WORK/bounded-w3.counts")" "$(cat "$WORK/bounded-w1.counts")" "same rows either way"
    cmp -s "$WORK/bounded-w1.sorted" "$WORK/bounded-w3.sorted" || fail "rejects differ"
    pp run "$WORK/bounded-w3.yaml" --dry-run --seed 11; expect_status 0
    grep '	cluster:' "$WORK/err" > "$WORK/bounded-w3.a"
    pp run "$WORK/bounded-w3.yaml" --dry-run --seed 11; expect_status 0
    grep '	cluster:' "$WORK/err" > "$WORK/bounded-w3.b"
    expect_eq "$(wc -l < "$WORK/bounded-w3.a")" 300 "dry-run pairs"
    cmp -s "$WORK/bounded-w3.a" "$WORK/bounded-w3.b" || fail "same seed, different pairs in bounded mode"
}

# --labels-file: one line per selected image, its id and category; the demo's
# topics are well separated, so each topic gets exactly one cluster label,
# in memory and in bounded mode alike.
labels_per_topic() { # csv: topics whose images got more than one label, and unknown ids
    sql "SET client_min_messages = warning; DROP TABLE IF EXISTS labels_check; CREATE TABLE labels_check (id text, label text)" >/dev/null
    psql -X -q -v ON_ERROR_STOP=1 -c "\copy labels_check FROM '$1' (FORMAT csv, HEADER true)"
    sql "SELECT (SELECT count(*) FROM (SELECT a.topic FROM labels_check l JOIN demo.images a
                 ON a.job_uuid::text = l.id GROUP BY a.topic HAVING count(DISTINCT l.label) > 1) t)
         || ' ' || (SELECT count(*) FROM labels_check l LEFT JOIN demo.images a
                 ON a.job_uuid::text = l.id WHERE a.job_uuid IS NULL)
         || ' ' || (SELECT count(DISTINCT label) FROM labels_check)"
}

test_labels_file_names_each_images_category() {
    cfg=$(demo_config labels-mem t_labels_mem "$embedding_strategy")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --labels-file "$WORK/labels-mem.csv"; expect_status 0
    expect_eq "$(head -n 1 "$WORK/labels-mem.csv")" "id,label" "header"
    expect_eq "$(($(wc -l < "$WORK/labels-mem.csv") - 1))" "$(json_field candidates)" "one line per image"
    expect_eq "$(labels_per_topic "$WORK/labels-mem.csv")" "0 0 30" "topics split, unknown ids, labels"
    grep -qE '^[0-9a-f-]{36},cluster:[0-9]+$' "$WORK/labels-mem.csv" || fail "lines are id,cluster:N"
    cfg=$(demo_config labels-bounded t_labels_bounded "$embedding_strategy" 'resources:
  memory_limit: 103MB
  workers: 1')
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --labels-file "$WORK/labels-bounded.csv" --dry-run; expect_status 0
    expect_eq "$(json_field memory_mode)" bounded "mode"
    expect_eq "$(labels_per_topic "$WORK/labels-bounded.csv")" "0 0 30" "bounded: topics split, unknown ids, labels"
    # score bins: the label is the bin
    cfg=$(demo_config labels-score t_labels_score "$score_strategy")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --labels-file "$WORK/labels-score.csv" --dry-run; expect_status 0
    expect_eq "$(cut -d, -f2 "$WORK/labels-score.csv" | grep -c '^score:')" "$(json_field candidates)" "score labels"
    # a path that cannot be written: exit 64 before anything is written
    pp run "$cfg" --labels-file "$WORK/no/such/dir/labels.csv"; expect_status 64
    expect_grep "cannot write labels file '$WORK/no/such/dir/labels.csv'" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM t_labels_score")" 0 "pairs written"
    pp status "$cfg" --labels-file x; expect_status 64
}

# A uuid id column is streamed as 16 binary bytes and held as 16 bytes per
# id; the pairs, rejects and labels are the same as with the ids as text.
read_figure() { # key: from the read line of a --verbose --log-format json run
    grep '"stage":"read"' "$WORK/err" | grep -o "\"$1\":[0-9]*" | head -n 1 | cut -d: -f2
}

test_uuid_ids_held_as_16_bytes_same_pairs_as_text() {
    sql "CREATE TABLE ids_uuid AS SELECT * FROM demo.images ORDER BY job_uuid;
         INSERT INTO ids_uuid SELECT * FROM demo.images ORDER BY job_uuid LIMIT 3;  -- duplicates
         UPDATE ids_uuid SET score = NULL WHERE job_uuid IN (SELECT job_uuid FROM demo.images ORDER BY job_uuid DESC LIMIT 2);
         CREATE TABLE ids_text AS SELECT job_uuid::text AS job_uuid, score, topic, clip_embedding FROM ids_uuid;" >/dev/null
    # One worker: the same rows in the same order, so the same pairs. Two
    # workers split the rows by a hash of the id, which differs between a
    # uuid (uuid_hash) and its text (hashtext): the same rows, rejects and
    # score bins, but k-means may see them in another order.
    for workers in 1 2; do
        for kind in uuid text; do
            for strategy in score embedding; do
                if [ "$strategy" = score ]; then body=$score_strategy; else body=$embedding_strategy; fi
                name=ids-$kind-$strategy
                [ "$workers" -eq 1 ] || name=$name-w$workers
                cfg=$(write_config "$name" <<YAML
job: $name
source:
  table: ids_$kind
  id: job_uuid
  score: score
  embedding: clip_embedding
$body
output:
  table: t_ids_${kind}_${strategy}_$workers
resources:
  workers: $workers
YAML
)
                pp migrate "$cfg"; expect_status 0
                pp run "$cfg" --rejects "$WORK/rejects-$name.csv" \
                    --labels-file "$WORK/labels-$name.csv" --verbose --log-format json
                expect_status 0
                echo "$(read_figure id_bytes) $(read_figure images)" > "$WORK/$name"
                sort "$WORK/rejects-$name.csv" > "$WORK/rejects-$name.sorted"
                sort "$WORK/labels-$name.csv" > "$WORK/labels-$name.sorted"
                cut -d, -f1 "$WORK/labels-$name.sorted" > "$WORK/ids-read-$name"
            done
        done
    done
    for strategy in score embedding; do
        expect_eq "$(sql "SELECT count(*) FROM (SELECT image_a, image_b, category FROM t_ids_uuid_${strategy}_1
                          EXCEPT SELECT image_a, image_b, category FROM t_ids_text_${strategy}_1) d")" 0 \
            "$strategy pairs only with uuid ids"
        for workers in 1 2; do
            expect_eq "$(sql "SELECT count(*) FROM t_ids_uuid_${strategy}_$workers")" 300 "$strategy pairs, $workers workers"
        done
        for suffix in "" -w2; do
            cmp -s "$WORK/rejects-ids-uuid-$strategy$suffix.sorted" "$WORK/rejects-ids-text-$strategy$suffix.sorted" \
                || fail "$strategy rejects differ between uuid and text ids ($suffix)"
            cmp -s "$WORK/ids-read-ids-uuid-$strategy$suffix" "$WORK/ids-read-ids-text-$strategy" \
                || fail "$strategy: other images read with uuid ids ($suffix)"
        done
        cmp -s "$WORK/labels-ids-uuid-$strategy.sorted" "$WORK/labels-ids-text-$strategy.sorted" \
            || fail "$strategy labels differ between uuid and text ids"
    done
    cmp -s "$WORK/labels-ids-uuid-score-w2.sorted" "$WORK/labels-ids-text-score-w2.sorted" \
        || fail "score labels differ between uuid and text ids with 2 workers"
    # the rejects name the uuids as text (the 3 duplicates among them)
    expect_eq "$(grep -cE '^"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",[a-z_]+$' \
        "$WORK/rejects-ids-uuid-score.csv")" "$(($(wc -l < "$WORK/rejects-ids-uuid-score.csv") - 1))" "rejects with uuid text"
    expect_eq "$(grep -c ',duplicate_id$' "$WORK/rejects-ids-uuid-score.csv")" 3 "duplicates"
    read -r uuid_bytes uuid_rows < "$WORK/ids-uuid-score"
    read -r text_bytes text_rows < "$WORK/ids-text-score"
    expect_eq "$uuid_rows" "$text_rows" "images held"
    echo "    id bytes per image: uuid $((uuid_bytes / uuid_rows)), text $((text_bytes / text_rows))"
    # 16 bytes per id plus the hash index (at most 4 x 4 bytes a row at this size) and growth slack
    [ $((uuid_bytes / uuid_rows)) -le 40 ] || fail "uuid ids take $((uuid_bytes / uuid_rows)) bytes each"
    [ "$uuid_bytes" -lt "$text_bytes" ] || fail "uuid ids ($uuid_bytes) not smaller than text ($text_bytes)"
    # a second run of the uuid job sees the pairs it proposed (found by their text)
    pp run "$WORK/ids-uuid-score.yaml" --seed 7; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM (SELECT image_a, image_b FROM t_ids_uuid_score_1 GROUP BY 1, 2 HAVING count(*) > 1) d")" 0 "a pair proposed twice"
}

# filtered_out is the source count in the run's snapshot minus the rows read.
test_score_run_counts_filtered_rows_in_its_snapshot() {
    cfg=$(demo_config counted t_counted "$score_strategy" 'filters:
  score: {min: 2.5}')
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --dry-run --verbose; expect_status 0
    expect_eq "$(json_field filtered_out)" "$(sql "SELECT count(*) FROM demo.images WHERE score < 2.5")" "filtered out"
    expect_eq "$(json_field rows_read)" "$(sql "SELECT count(*) FROM demo.images WHERE score IS NULL OR score >= 2.5")" "rows read"
    expect_eq "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pairpick/counted'")" 0 "connections left open"
}

test_embedding_and_score_combined() {
    cfg=$(demo_config emb-s t_emb_score 'strategy:
  by: [embedding, score]
  clusters: 30
  bins: 3
  max_pairs: 450
  seed: 8')
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_emb_score")" 450 "pairs"
    expect_eq "$(cross_topic_pairs t_emb_score)" 0 "pairs across topics"
    expect_eq "$(sql "SELECT count(*) FROM t_emb_score WHERE category !~ '^cluster:[0-9]+/score:[0-2]$'")" 0 "category names"
    # inside a cluster, score bins do not overlap
    overlaps=$(sql "WITH s AS (SELECT split_part(category, '/', 1) cl, category,
                         least(min(score_a), min(score_b)) lo, greatest(max(score_a), max(score_b)) hi
                    FROM t_emb_score GROUP BY category)
                    SELECT count(*) FROM s a JOIN s b ON a.cl = b.cl AND a.category < b.category
                     AND a.lo <= b.hi AND b.lo <= a.hi")
    expect_eq "$overlaps" 0 "score bins overlap inside a cluster"
    ratio=$(sql "SELECT $(json_field mean_score_delta) / $(json_field random_score_delta)")
    [ "$(sql "SELECT $ratio < 0.5")" = t ] || fail "combined pairs not close in score ($ratio)"
}

test_bad_embeddings_skipped_and_counted() {
    sql "CREATE TABLE bad_emb AS SELECT job_uuid, score, clip_embedding AS emb FROM demo.images ORDER BY job_uuid LIMIT 200;
         UPDATE bad_emb SET emb = NULL WHERE job_uuid IN (SELECT job_uuid FROM bad_emb ORDER BY job_uuid LIMIT 3);
         UPDATE bad_emb SET emb[5] = NULL WHERE job_uuid IN (SELECT job_uuid FROM bad_emb ORDER BY job_uuid OFFSET 3 LIMIT 4);
         UPDATE bad_emb SET emb[7] = 'NaN' WHERE job_uuid IN (SELECT job_uuid FROM bad_emb ORDER BY job_uuid OFFSET 7 LIMIT 2);
         UPDATE bad_emb SET emb = emb[1:700] WHERE job_uuid IN (SELECT job_uuid FROM bad_emb ORDER BY job_uuid OFFSET 9 LIMIT 5);" >/dev/null
    cfg=$(write_config bademb <<'YAML'
job: bad-emb
source:
  table: bad_emb
  id: job_uuid
  score: score
  embedding: emb
strategy:
  by: embedding
  clusters: 5
  max_pairs: 50
output:
  table: t_bad_emb
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(json_field rows_read)" 200 "rows read"
    expect_eq "$(json_field rows_skipped)" 14 "rows skipped"
    expect_grep "null_embedding 3" "$WORK/err"
    expect_grep "bad_embedding 6" "$WORK/err"
    expect_grep "dim_mismatch 5" "$WORK/err"
    # pinned dimension with on_bad_row: error -> exit 65, nothing written
    sed -i 's/  embedding: emb/  embedding: emb\n  embedding_dim: 768\n  on_bad_row: error/' "$cfg"
    pp run "$cfg" --run-id pinned; expect_status 65
    expect_grep "dimension" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM t_bad_emb WHERE run_id = 'pinned'")" 0 "rows of the failed run"
}

test_more_clusters_than_images_exits_65() {
    cfg=$(demo_config emb-k t_emb_k "$embedding_strategy" 'filters:
  score: {min: 3.5}')
    sed -i 's/clusters: 30/clusters: 5000/' "$cfg"
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 65
    expect_grep "cannot make 5000 clusters" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM t_emb_k")" 0 "rows"
}

start_server_with_demo 1500
run_tests "$@"
