#!/usr/bin/env bash
# Integration tests of informative pairs and a healthy queue: prefer
# uncertain against random on a source with a variance column (stored pairs
# and report), bridges between adjacent bins, output.max_pending, exposure
# carried over from earlier runs, near-duplicates, the provenance columns
# of sql/004_pair_policy.sql, and prefer informative under
# resources.memory_limit. A real, throwaway PostgreSQL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# A score-bin job over demo.images; $1 job, $2 output table, then extra
# lines under strategy:, then (after a line "--") extra lines under output:.
job_config() {
    local job=$1 table=$2 strategy="" output="" part=strategy
    shift 2
    case " $* " in *" max_pairs:"*) ;; *) strategy="  max_pairs: 300"$'\n' ;; esac
    for line in "$@"; do
        if [ "$line" = "--" ]; then part=output; continue; fi
        if [ $part = strategy ]; then strategy+="  $line"$'\n'; else output+="  $line"$'\n'; fi
    done
    write_config "$job" <<YAML
job: $job
source:
  table: demo.images
  id: job_uuid
  score: score
  variance: score_variance
  embedding: clip_embedding
strategy:
  by: score
  bins: 10
  seed: 7
$strategy
output:
  table: $table
$output
YAML
}

# Mean |z| of the stored pairs, z = (score_a - score_b) / sqrt(var_a + var_b + 2 beta^2):
# p = Phi(z), so a smaller |z| is a p nearer 1/2.
mean_abs_z() { # table
    sql "SELECT round(avg(abs(p.score_a - p.score_b)
                 / sqrt(a.score_variance + b.score_variance + 2 * 0.1 ^ 2))::numeric, 4)
           FROM $1 AS p
           JOIN demo.images AS a ON a.job_uuid::text = p.image_a
           JOIN demo.images AS b ON b.job_uuid::text = p.image_b"
}

# Whether $1 < $2 as numbers.
less() {
    [ "$(sql "SELECT ($1)::float8 < ($2)::float8")" = t ]
}

test_uncertain_beats_random_in_stored_pairs_and_report() {
    random=$(job_config inf-random t_inf_random "prefer: random")
    uncertain=$(job_config inf-uncertain t_inf_uncertain "prefer: uncertain")
    pp migrate "$random"; expect_status 0
    pp migrate "$uncertain"; expect_status 0
    pp run "$random"; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 300 "random pairs"
    [ -z "$(json_field candidates_examined)" ] || fail "prefer random alone must not use the selector"
    random_information=$(json_field information_sum)
    pp run "$uncertain"; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 300 "uncertain pairs"
    expect_eq "$(json_field prefer)" uncertain "report: prefer"
    # the report: chosen against random in-category pairs of the same run
    less "$(json_field mean_p_distance)" "$(json_field random_mean_p_distance)" \
        || fail "report: mean |p - 1/2| of chosen pairs is not below random pairs"
    less "$(json_field random_information_sum)" "$(json_field information_sum)" \
        || fail "report: information of chosen pairs is not above random pairs"
    less "$random_information" "$(json_field information_sum)" \
        || fail "report: uncertain carries no more information than the random run"
    [ "$(json_field candidates_examined)" -gt 0 ] || fail "candidates examined"
    expect_grep "|p - 1/2|       chosen pairs" "$WORK/err"
    expect_grep "information     chosen pairs" "$WORK/err"
    expect_grep "exposure        images by open pairs" "$WORK/err"
    # the stored pairs: nearer a coin flip
    z_random=$(mean_abs_z t_inf_random)
    z_uncertain=$(mean_abs_z t_inf_uncertain)
    echo "    mean |z| of stored pairs: random $z_random, uncertain $z_uncertain"
    less "$z_uncertain" "$z_random" || fail "stored pairs: uncertain |z| $z_uncertain not below random $z_random"
    # provenance: policy, within/cross, a fair show_first
    expect_eq "$(sql "SELECT string_agg(DISTINCT policy, ',') FROM t_inf_uncertain")" \
        "inf-uncertain:score/uncertain" "policy"
    expect_eq "$(sql "SELECT string_agg(DISTINCT policy, ',') FROM t_inf_random")" \
        "inf-random:score/random" "policy of the random job"
    expect_eq "$(sql "SELECT count(*) FROM t_inf_uncertain WHERE cross_category")" 0 "no bridges asked"
    for table in t_inf_random t_inf_uncertain; do
        a=$(sql "SELECT count(*) FROM $table WHERE show_first = 'a'")
        b=$(sql "SELECT count(*) FROM $table WHERE show_first = 'b'")
        echo "    $table show_first: a $a, b $b"
        # Binomial(300, 1/2): 150 +- 3.29 sd (8.66) with probability 0.999
        [ $((a + b)) -eq 300 ] && [ "$a" -ge 122 ] && [ "$a" -le 178 ] || fail "show_first a=$a b=$b"
    done
}

test_explore_fraction_stores_bridges_between_adjacent_bins() {
    cfg=$(job_config inf-explore t_inf_explore "prefer: uncertain" "explore_fraction: 0.2")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 300 "pairs"
    cross=$(sql "SELECT count(*) FROM t_inf_explore WHERE cross_category")
    [ "$cross" -ge 59 ] && [ "$cross" -le 61 ] || fail "cross pairs: $cross, expected 60 +- 1"
    expect_eq "$(json_field cross_pairs)" "$cross" "report: cross pairs"
    # every bridge joins adjacent bins, named "score:i|score:i+1" (either order)
    expect_eq "$(sql "SELECT count(*) FROM t_inf_explore WHERE cross_category
                        AND abs(split_part(split_part(category, '|', 1), ':', 2)::int
                              - split_part(split_part(category, '|', 2), ':', 2)::int) <> 1")" 0 \
        "bridges between non-adjacent bins"
    expect_eq "$(sql "SELECT count(*) FROM t_inf_explore WHERE NOT cross_category AND category LIKE '%|%'")" 0 \
        "within pairs name one category"
}

test_max_pending_stops_the_queue_growing() {
    cfg=$(job_config inf-queue t_inf_queue "prefer: uncertain" "max_pairs: 200" -- "max_pending: 250")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --seed 1; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 200 "first run: max_pairs"
    pp run "$cfg" --seed 2; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 50 "second run: up to max_pending"
    expect_eq "$(json_field pending_before)" 200 "second run: pending before"
    expect_eq "$(sql "SELECT count(*) FROM t_inf_queue WHERE status = 'pending'")" 250 "queue at the cap"
    pp run "$cfg" --seed 3; expect_status 0
    expect_eq "$(json_field status)" succeeded "a full queue is a successful run"
    expect_eq "$(json_field pairs_chosen)" 0 "full queue: no pairs"
    expect_eq "$(json_field queue_full)" true "report: queue_full"
    expect_grep "the queue is full" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM t_inf_queue")" 250 "the queue did not grow"
    # annotators work through 100: room for 100 more
    sql "UPDATE t_inf_queue SET status = 'annotated'
          WHERE (image_a, image_b) IN (SELECT image_a, image_b FROM t_inf_queue ORDER BY image_a LIMIT 100)" >/dev/null
    pp run "$cfg" --seed 4; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 100 "room made by annotation"
    # another job's pending pairs do not count against this job's cap
    other=$(job_config inf-queue-other t_inf_queue "max_pairs: 20" -- "max_pending: 30")
    pp run "$other"; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 20 "other job"
}

test_exposure_from_earlier_runs_changes_the_next_choice() {
    cfg=$(job_config inf-exposure t_inf_exposure "prefer: uncertain" "max_exposure: 1" "max_pairs: 200")
    free=$(job_config inf-exposure-free t_inf_exposure_free "prefer: uncertain" "max_pairs: 200")
    pp migrate "$cfg"; expect_status 0
    pp migrate "$free"; expect_status 0
    pp run "$cfg" --run-id first; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 200 "first run"
    # the first run's images are at max_exposure: the second run avoids them
    pp run "$cfg" --run-id second; expect_status 0
    [ "$(json_field pairs_inserted)" -gt 0 ] || fail "second run chose nothing"
    [ "$(json_field exposure_skipped)" -gt 0 ] || fail "report: exposure_skipped"
    shared=$(sql "WITH first AS (SELECT image_a AS image FROM t_inf_exposure WHERE run_id = 'first'
                                  UNION SELECT image_b FROM t_inf_exposure WHERE run_id = 'first'),
                      second AS (SELECT image_a AS image FROM t_inf_exposure WHERE run_id = 'second'
                                  UNION SELECT image_b FROM t_inf_exposure WHERE run_id = 'second')
                 SELECT count(*) FROM first JOIN second USING (image)")
    expect_eq "$shared" 0 "images of the first run chosen again past max_exposure 1"
    # without the history (an empty queue) the same seed picks those images
    pp run "$free" --run-id second --seed 7; expect_status 0
    reused=$(sql "SELECT count(*) FROM t_inf_exposure_free AS f
                   WHERE EXISTS (SELECT FROM t_inf_exposure AS e WHERE e.run_id = 'first'
                                  AND f.image_a IN (e.image_a, e.image_b))")
    [ "$reused" -gt 0 ] || fail "without exposure the choice does not differ"
    # pairs no longer open (neither pending nor annotated) do not count
    sql "UPDATE t_inf_exposure SET status = 'skipped'" >/dev/null
    pp run "$cfg" --run-id third; expect_status 0
    [ "$(json_field pairs_inserted)" -gt 0 ] || fail "closed pairs still count as exposure"
    expect_grep '"exposure_histogram":\[' "$WORK/out"
}

test_near_duplicates_are_skipped_and_counted() {
    # every tenth image also appears under a second id, same score and embedding
    sql "CREATE TABLE IF NOT EXISTS inf_dups AS
           SELECT job_uuid::text AS id, score, score_variance, clip_embedding FROM demo.images
           UNION ALL
           SELECT job_uuid::text || '-copy', score, score_variance, clip_embedding
             FROM demo.images WHERE score IS NOT NULL AND get_byte(decode(md5(job_uuid::text), 'hex'), 0) < 26" >/dev/null
    cfg=$(write_config inf-dups <<YAML
job: inf-dups
source:
  table: inf_dups
  id: id
  score: score
  variance: score_variance
  embedding: clip_embedding
strategy:
  by: score
  bins: 5
  max_pairs: 1000
  seed: 3
  prefer: uncertain
  max_similarity: 0.98
output:
  table: t_inf_dups
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    [ "$(json_field near_duplicates_skipped)" -gt 0 ] || fail "report: near_duplicates_skipped"
    expect_grep "near-duplicates skipped" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM t_inf_dups WHERE image_b = image_a || '-copy'")" 0 \
        "an image paired with its copy"
    # without max_similarity the copies are the most uncertain pairs of all
    sed -i '/max_similarity/d; s/table: t_inf_dups/table: t_inf_dups_kept/' "$cfg"
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    [ "$(sql "SELECT count(*) FROM t_inf_dups_kept WHERE image_b = image_a || '-copy'")" -gt 0 ] \
        || fail "the test data has no near-duplicates to skip"
}

test_bridges_join_nearest_clusters() {
    cfg=$(write_config inf-clusters <<YAML
job: inf-clusters
source:
  table: demo.images
  id: job_uuid
  score: score
  variance: score_variance
  embedding: clip_embedding
strategy:
  by: embedding
  clusters: 6
  max_pairs: 200
  seed: 5
  prefer: uncertain
  explore_fraction: 0.25
output:
  table: t_inf_clusters
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    cross=$(sql "SELECT count(*) FROM t_inf_clusters WHERE cross_category")
    [ "$cross" -ge 49 ] && [ "$cross" -le 51 ] || fail "cross pairs between clusters: $cross, expected 50 +- 1"
    expect_eq "$(sql "SELECT count(*) FROM t_inf_clusters WHERE cross_category
                        AND category !~ '^cluster:[0-9]+[|]cluster:[0-9]+$'")" 0 "bridges name two clusters"
    expect_eq "$(sql "SELECT count(*) FROM t_inf_clusters WHERE cross_category
                        AND split_part(category, '|', 1) = split_part(category, '|', 2)")" 0 \
        "a bridge inside one cluster"
}

test_dry_run_prints_bridges_and_writes_nothing() {
    cfg=$(job_config inf-dry t_inf_dry "prefer: uncertain" "explore_fraction: 0.5" "max_pairs: 20")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --dry-run; expect_status 0
    expect_eq "$(grep -c 'score:[0-9]*|score:[0-9]*' "$WORK/err")" 10 "bridges printed"
    expect_eq "$(sql "SELECT count(*) FROM t_inf_dry")" 0 "dry run wrote nothing"
}

# A source of 2,000 images with distinct scores, for the caps below.
caps_source() {
    sql "SET client_min_messages = warning; CREATE TABLE IF NOT EXISTS demo.caps AS
           SELECT g::text AS id, g / 2000.0 AS score, 0.01 AS variance
             FROM generate_series(1, 2000) AS g" >/dev/null
}

# A job over demo.caps; $1 job, $2 output table, then lines under strategy:.
caps_config() {
    local job=$1 table=$2 strategy=""
    shift 2
    for line in "$@"; do strategy+="  $line"$'\n'; done
    write_config "$job" <<YAML
job: $job
source:
  table: demo.caps
  id: id
  score: score
  variance: variance
strategy:
  by: score
  bins: 10
  seed: 7
  max_pairs: 1000
$strategy
output:
  table: $table
YAML
}

# Issue 18: max_exposure counts pending pairs only, so annotating a run's
# pairs makes room again (it used to count annotated ones forever: runs 1-3
# inserted 1000, 1000, 944 and every later run 0).
# Scores that never move between runs (no refit): every run of the default
# policy still stores its whole budget while the bins hold pairs not yet
# stored. A neighbour already paired is passed over for the next one; when
# it was dropped instead, each image's `window` neighbours ran out after a
# few runs and pairs_available fell far below what the bins hold.
test_static_scores_do_not_run_the_candidates_dry() {
    local cfg run inserted available
    cfg=$(write_config inf-static <<YAML
job: inf-static
source:
  query: "SELECT job_uuid::text AS id, score, score_variance FROM demo.images ORDER BY job_uuid LIMIT 200"
  id: id
  score: score
  variance: score_variance
strategy:
  by: score
  bins: 5
  max_pairs: 400
  seed: 3
output:
  table: t_inf_static
YAML
)
    pp migrate "$cfg"; expect_status 0
    for run in 1 2 3 4 5 6 7 8; do
        pp run "$cfg" --run-id "static-$run"; expect_status 0
        inserted=$(json_field pairs_inserted)
        available=$(json_field pairs_available)
        echo "    run $run: $inserted pairs inserted, $available available"
        expect_eq "$inserted" 400 "run $run inserted"
    done
    expect_eq "$(sql "SELECT count(DISTINCT (least(image_a, image_b), greatest(image_a, image_b))) FROM t_inf_static")" 3200 "distinct pairs stored"
    expect_eq "$(json_field prefer)" informative "the default policy with by: score"
}

test_max_exposure_counts_pending_pairs_only() {
    caps_source
    cfg=$(caps_config cap-exposure t_cap_exposure "max_exposure: 3")
    pp migrate "$cfg"; expect_status 0
    for run in 1 2 3 4 5 6; do
        pp run "$cfg" --run-id "r$run"; expect_status 0
        expect_eq "$(json_field pairs_inserted)" 1000 "run $run, after annotating the earlier runs"
        sql "UPDATE t_cap_exposure SET status = 'annotated' WHERE status = 'pending'" >/dev/null
    done
    expect_eq "$(json_field capped_images)" 0 "capped images with nothing pending"
    # pending pairs still count: with every run left pending, images reach the cap
    cfg=$(caps_config cap-pending t_cap_pending "max_exposure: 1")
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id p1; expect_status 0
    pp run "$cfg" --run-id p2; expect_status 0
    over=$(sql "SELECT count(*) FROM (SELECT image_a AS image FROM t_cap_pending
                                       UNION ALL SELECT image_b FROM t_cap_pending) AS s
                 GROUP BY image HAVING count(*) > 1")
    expect_eq "$over" "" "images in more than max_exposure 1 pending pairs"
    [ "$(json_field capped_images)" -gt 0 ] || fail "report: capped_images"
    expect_grep 'images are at strategy.max_exposure' "$WORK/err"
}

# max_comparisons caps an image's annotated pairs (and pending ones, which
# become comparisons); a run short of its budget says how many are capped.
test_max_comparisons_stops_an_image_after_its_cap() {
    caps_source
    cfg=$(caps_config cap-lifetime t_cap_lifetime "max_comparisons: 2")
    pp migrate "$cfg"; expect_status 0
    for run in 1 2 3 4; do
        pp run "$cfg" --run-id "r$run"; expect_status 0
        sql "UPDATE t_cap_lifetime SET status = 'annotated' WHERE status = 'pending'" >/dev/null
    done
    most=$(sql "SELECT max(n) FROM (SELECT count(*) AS n FROM (
                    SELECT image_a AS image FROM t_cap_lifetime
                    UNION ALL SELECT image_b FROM t_cap_lifetime) AS s GROUP BY image) AS c")
    expect_eq "$most" 2 "most comparisons of an image under max_comparisons 2"
    # 2,000 images x 2 comparisons hold at most 2,000 pairs
    total=$(sql "SELECT count(*) FROM t_cap_lifetime")
    [ "$total" -le 2000 ] || fail "$total pairs stored under max_comparisons 2"
    [ "$(json_field pairs_inserted)" -lt 1000 ] || fail "the last run was not short of its budget"
    [ "$(json_field capped_images)" -gt 0 ] || fail "report: capped_images"
    expect_grep 'images are at strategy.max_exposure (pending pairs) or strategy.max_comparisons' "$WORK/err"
}

# prefer informative's working memory counts against resources.memory_limit
# with the images and the stored pairs: a limit that cannot hold it is a
# clear exit 65 where prefer random still runs, and a roomier one stores
# the whole budget (100,000 images: about 2 MB for the selector).
test_memory_limit_bounds_prefer_informative() {
    local prefer limit cfg
    sql "SET client_min_messages = warning; CREATE TABLE IF NOT EXISTS demo.many AS
           SELECT 'img-' || g AS id, (g * 7919 % 100003) / 100003.0 AS score
             FROM generate_series(1, 100000) AS g" >/dev/null
    for prefer in informative random; do
        for limit in 8MB 24MB; do
            cfg=$(write_config "mem-$prefer-$limit" <<YAML
job: mem-$prefer-$limit
source: {table: demo.many, id: id, score: score}
strategy: {by: score, bins: 10, max_pairs: 1000, seed: 5, prefer: $prefer}
resources: {memory_limit: $limit}
output: {table: t_mem_${prefer}_${limit%MB}}
YAML
)
            pp migrate "$cfg"; expect_status 0
            pp run "$cfg" --run-id "m1"
            if [ $prefer = informative ] && [ $limit = 8MB ]; then
                expect_status 65
                expect_grep 'resources.memory_limit leaves [0-9]* bytes for choosing pairs among 100000 images' "$WORK/err"
                expect_grep 'HINT: raise resources.memory_limit' "$WORK/err"
            else
                expect_status 0
                expect_eq "$(json_field pairs_inserted)" 1000 "prefer $prefer under $limit"
            fi
        done
    done
}

start_server_with_demo 1500
run_tests "$@"
