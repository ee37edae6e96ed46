#!/usr/bin/env bash
# Integration tests of stored cluster models (`pairpick fit`, `pairpick
# models`, strategy.clusters_from, refit_after, PCA, drift, the contact sheet
# of a stored model, constant memory per row) against a throwaway PostgreSQL
# started here. Usage: models.sh [test_name ...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# Images in 5 well separated blobs of `dim`-d vectors: add_images(batch, n, dim, table).
# Blob b has centre ((7b + 3k) mod 11) - 5 in coordinate k, noise +-0.4.
make_schema() {
    sql "CREATE TABLE img (id text PRIMARY KEY, batch int, blob int, score float8, emb real[]);
         CREATE TABLE img8 (LIKE img);
         CREATE TABLE big (LIKE img);
         CREATE FUNCTION add_images(b int, n int, d int, target regclass DEFAULT 'img')
         RETURNS void LANGUAGE plpgsql AS \$\$
         BEGIN
           EXECUTE 'INSERT INTO ' || target || ' SELECT ''b'' || \$1 || ''-'' || lpad(i::text, 6, ''0''),
                  \$1, i % 5, random(),
                  (SELECT array_agg((((i % 5) * 7 + k * 3) % 11 - 5 + (random() - 0.5) * 0.8)::real
                                    ORDER BY k) FROM generate_series(1, \$3) AS k)
                  FROM generate_series(1, \$2) AS i' USING b, n, d;
         END \$\$;" >/dev/null
}

# A config over table $2 (default img); $1 job; then extra strategy lines.
model_config() {
    local job=$1 table=$2 output=$3
    shift 3
    write_config "$job" <<YAML
job: $job
source:
  table: $table
  id: id
  score: score
  embedding: emb
  image_path: images/{id}.svg
strategy:
  by: embedding
  clusters: 5
  max_pairs: ${MAX_PAIRS:-3000}
  seed: 11
$(printf '  %s\n' "$@")
output:
  table: $output
YAML
}

# image<TAB>category of every image in the pairs of output table $1.
labels_of() {
    sql "SELECT id, category FROM (SELECT image_a AS id, category FROM $1
                                   UNION SELECT image_b, category FROM $1) AS t ORDER BY 1"
}

test_fit_then_assign_runs_keep_ids() {
    sql "SELECT add_images(1, 400, 16)" >/dev/null
    cfg=$(model_config assign-a img t_assign_a "clusters_from: blobs" "kmeans: {metric: euclidean}")
    cfg_b=$(model_config assign-b img t_assign_b "clusters_from: blobs" "kmeans: {metric: euclidean}")
    pp migrate "$cfg"; expect_status 0
    pp migrate "$cfg_b"; expect_status 0
    pp fit "$cfg"; expect_status 0
    expect_eq "$(json_field version)" 1 "first version"
    expect_eq "$(json_field clusters)" 5 "k"
    expect_eq "$(json_field dim)" 16 "dim"
    expect_eq "$(json_field fit_rows)" 400 "fitted on every row"
    expect_grep "stored cluster model blobs version 1" "$WORK/err"
    # the same rows, read back through the stored centres: the fit's own
    # assignment, so every share and mean distance is the fit-time one
    pp run "$cfg" --dry-run; expect_status 0
    off=$(echo "SELECT count(*) FROM json_array_elements((:'line'::json)->'drift') e
                WHERE (e->>'share')::float8 <> (e->>'fit_share')::float8
                   OR abs((e->>'mean_distance')::float8 - (e->>'fit_mean_distance')::float8) > 1e-4" |
          psql -X -At -v line="$(tail -n 1 "$WORK/out")")
    expect_eq "$off" 0 "clusters whose share or distance differs from the fit on the fit's rows"

    # day 2: new images arrive, a run assigns them all
    sql "SELECT add_images(2, 300, 16)" >/dev/null
    pp run "$cfg" --run-id day2; expect_status 0
    expect_eq "$(json_field memory_mode)" assign "memory mode"
    expect_eq "$(json_field rows_read)" 700 "rows"
    expect_eq "$(sql "SELECT model_name || '@' || model_version || ' ' || model_refitted FROM pairpick_runs WHERE run_id = 'day2'")" "blobs@1 false" "run record names the model"
    expect_grep "drift           largest share change" "$WORK/err"
    expect_grep "model           blobs version 1, euclidean, k=5" "$WORK/err"
    expect_grep "assigned to stored centres" "$WORK/err"
    # day 3: more images; another job's run on the same model
    sql "SELECT add_images(3, 300, 16)" >/dev/null
    pp run "$cfg_b" --run-id day3 --log-format json; expect_status 0
    # the JSON log's summary line carries the model and its drift too
    summary=$(grep '"stage":"summary"' "$WORK/err")
    expect_eq "$(echo "SELECT json_array_length((:'line'::json)->'figures'->'drift')" | psql -X -At -v line="$summary")" 5 "drift in the JSON log"
    expect_eq "$(json_field rows_read)" 1000 "rows"
    labels_of t_assign_a >"$WORK/a"
    labels_of t_assign_b >"$WORK/b"
    # every image of day 2's run in the same cluster on day 3
    both=$(join -t '|' "$WORK/a" "$WORK/b" | wc -l)
    differ=$(join -t '|' "$WORK/a" "$WORK/b" | awk -F'|' '$2 != $3' | wc -l)
    [ "$both" -ge 650 ] || fail "images in both runs' pairs: $both"
    expect_eq "$differ" 0 "images whose cluster id changed between the runs"
    # and each blob is one cluster (ids are the model's, not a refit's)
    expect_eq "$(sql "SELECT count(DISTINCT (i.blob, p.category)) FROM img i JOIN (SELECT image_a AS id, category FROM t_assign_b UNION SELECT image_b, category FROM t_assign_b) p ON p.id = i.id")" 5 "blob -> cluster is one to one"
    # no new version was fitted
    expect_eq "$(sql "SELECT count(*) FROM pairpick_cluster_models WHERE name = 'blobs'")" 1 "versions"
    # the drift report: 5 clusters, shares now against at fit
    expect_eq "$(echo "SELECT json_array_length((:'line'::json)->'drift')" | psql -X -At -v line="$(tail -n 1 "$WORK/out")")" 5 "drift entries"
    share=$(echo "SELECT round(sum((e->>'share')::numeric), 6) FROM json_array_elements((:'line'::json)->'drift') e" | psql -X -At -v line="$(tail -n 1 "$WORK/out")")
    expect_eq "$share" 1.000000 "shares add up"
}

test_bridges_join_nearest_stored_centres() {
    # Runs through a model keep no embeddings: the bridges of
    # explore_fraction join clusters whose stored centres are nearest.
    sql "SELECT add_images(7, 300, 16)" >/dev/null
    MAX_PAIRS=100 cfg=$(model_config bridged img t_bridged "clusters_from: bridged" \
        "kmeans: {metric: euclidean}" "explore_fraction: 0.2")
    pp migrate "$cfg"; expect_status 0
    pp fit "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(json_field memory_mode)" assign "memory mode"
    expect_eq "$(sql "SELECT count(*) FROM t_bridged WHERE cross_category")" 20 "cross pairs (0.2 of 100)"
    expect_eq "$(sql "SELECT count(*) FROM t_bridged")" 100 "pairs"
    [ "$(sql "SELECT count(DISTINCT category) FROM t_bridged WHERE cross_category")" -ge 2 ] ||
        fail "bridges between fewer than two pairs of clusters"
}

test_models_lists_versions() {
    cfg=$(model_config assign-a img t_assign_a "clusters_from: blobs" "kmeans: {metric: euclidean}")
    pp models "$cfg"; expect_status 0
    expect_grep "^blobs  *1 euclidean  *16 *5 *0" "$WORK/out"
    pp models "$cfg" --json; expect_status 0
    expect_eq "$(wc -l <"$WORK/out")" 1 "models in JSON (one object per line)"
    expect_eq "$(echo "SELECT (:'line'::json)->>'name'" | psql -X -At -v line="$(tail -n 1 "$WORK/out")")" blobs "model in JSON"
    pp models "$cfg" --seed 3; expect_status 64
}

test_pca_model_and_variance_kept() {
    cfg=$(model_config pca-job img t_pca "clusters_from: blobs-pca" "kmeans: {pca: 4, fit_sample: 500}")
    pp migrate "$cfg"; expect_status 0
    pp fit "$cfg"; expect_status 0
    expect_eq "$(json_field pca_components)" 4 "components"
    expect_eq "$(json_field fit_rows)" 500 "fitted on the sample"
    kept=$(json_field variance_kept)
    awk -v k="$kept" 'BEGIN { exit !(k > 0.9 && k <= 1) }' || fail "variance kept $kept"
    expect_grep "variance kept" "$WORK/err"
    expect_eq "$(sql "SELECT pca_components, octet_length(pca_basis), octet_length(pca_mean), octet_length(centers) FROM pairpick_cluster_models WHERE name = 'blobs-pca'")" "4|256|64|80" "stored sizes (4x16, 16, 5x4 floats)"
    pp run "$cfg" --run-id pca1; expect_status 0
    expect_grep "pca             16 -> 4 dimensions, variance kept" "$WORK/err"
    expect_eq "$(sql "SELECT count(DISTINCT (i.blob, p.category)) FROM img i JOIN (SELECT image_a AS id, category FROM t_pca UNION SELECT image_b, category FROM t_pca) p ON p.id = i.id")" 5 "blob -> cluster is one to one"
}

test_refit_after_only_when_due() {
    cfg=$(MAX_PAIRS=50 model_config refit-job img t_refit "clusters_from: refit" "kmeans: {metric: euclidean, refit_after: 7d, fit_sample: 300}")
    pp migrate "$cfg"; expect_status 0
    # no model yet: the first run fits version 1
    pp run "$cfg" --run-id r1; expect_status 0
    expect_eq "$(sql "SELECT model_version || ' ' || model_refitted FROM pairpick_runs WHERE run_id = 'r1'")" "1 true" "first run fits"
    expect_grep "refitted by this run" "$WORK/err"
    # fresh: no refit
    pp run "$cfg" --run-id r2; expect_status 0
    expect_eq "$(sql "SELECT model_version || ' ' || model_refitted FROM pairpick_runs WHERE run_id = 'r2'")" "1 false" "fresh model kept"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_cluster_models WHERE name = 'refit'")" 1 "versions"
    # 8 days old: due
    sql "UPDATE pairpick_cluster_models SET fitted_at = now() - interval '8 days' WHERE name = 'refit'" >/dev/null
    pp run "$cfg" --run-id r3 --metrics-file "$WORK/r3.prom"; expect_status 0
    expect_eq "$(sql "SELECT model_version || ' ' || model_refitted FROM pairpick_runs WHERE run_id = 'r3'")" "2 true" "old model refitted"
    expect_eq "$(grep '^pairpick_model' "$WORK/r3.prom" | paste -sd' ')" \
        'pairpick_model_version{pairpick_job="refit-job",model="refit"} 2 pairpick_model_refitted{pairpick_job="refit-job"} 1' "metrics of the refit"
    pp run "$cfg" --run-id r4 --metrics-file "$WORK/r4.prom"; expect_status 0
    expect_eq "$(sql "SELECT model_version || ' ' || model_refitted FROM pairpick_runs WHERE run_id = 'r4'")" "2 false" "new version kept"
    expect_grep '^pairpick_model_refitted{pairpick_job="refit-job"} 0$' "$WORK/r4.prom"
    pp status "$cfg" --limit 3; expect_status 0
    # run_id status date time zone seconds rows pairs model [refitted]
    expect_eq "$(awk 'NR > 1 {print $1, $9, $10}' "$WORK/out" | sed 's/ *$//' | paste -sd,)" \
        "r4 refit@2,r3 refit@2 refitted,r2 refit@1" "status: runs and their models"
    # 6 days on (--as-of) is not due, 8 days on is
    pp run "$cfg" --run-id r5 --as-of "$(sql "SELECT now() + interval '6 days'")"; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM pairpick_cluster_models WHERE name = 'refit'")" 2 "not due at 6 days"
    pp run "$cfg" --run-id r6 --as-of "$(sql "SELECT now() + interval '8 days'")"; expect_status 0
    expect_eq "$(sql "SELECT max(version) FROM pairpick_cluster_models WHERE name = 'refit'")" 3 "due at 8 days"
    # a dry run that is due fits in memory and stores nothing
    sql "UPDATE pairpick_cluster_models SET fitted_at = now() - interval '8 days' WHERE name = 'refit'" >/dev/null
    pp run "$cfg" --dry-run; expect_status 0
    expect_grep "not stored: dry run" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_cluster_models WHERE name = 'refit'")" 3 "dry run stores no version"
    # a pinned version follows no refit_after
    expect_eq "$(sql "SELECT count(*) FROM pairpick_cluster_models WHERE name = 'refit' AND version = 2")" 1 "old versions kept"
}

test_mismatch_exits_65_and_writes_nothing() {
    sql "SELECT add_images(1, 200, 8, 'img8')" >/dev/null
    # 8-d data, a model of 16-d vectors
    cfg=$(model_config mismatch-dim img8 t_mismatch "clusters_from: blobs" "kmeans: {metric: euclidean}")
    pp migrate "$cfg"; expect_status 0
    before=$(sql "SELECT count(*) FROM pairpick_cluster_models")
    pp run "$cfg" --run-id m1; expect_status 65
    expect_grep 'cluster model "blobs" version 1 takes 16-dimensional embeddings, the selected embeddings have 8 dimensions' "$WORK/err"
    # the metric the model was fitted with is not the config's
    cfg2=$(model_config mismatch-metric img t_mismatch "clusters_from: blobs@1" "kmeans: {metric: cosine}")
    pp run "$cfg2" --run-id m2; expect_status 65
    expect_grep "fitted with metric euclidean, the config asks for strategy.kmeans.metric cosine" "$WORK/err"
    pp sample "$cfg2" --out "$WORK/no-sheet"; expect_status 65
    # check --db finds both before any run
    pp check "$cfg" --db; expect_status 65; expect_grep "takes 16-dimensional" "$WORK/err"
    pp check "$cfg2" --db; expect_status 65; expect_grep "fitted with metric euclidean" "$WORK/err"
    cfg_ok=$(model_config assign-a img t_assign_a "clusters_from: blobs" "kmeans: {metric: euclidean}")
    pp check "$cfg_ok" --db; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_mismatch")" 0 "no pairs"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE job LIKE 'mismatch-%'")" 0 "no run records"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_cluster_models")" "$before" "no model versions"
    # an unknown model or version is a configuration error
    cfg3=$(model_config missing img t_mismatch "clusters_from: nosuch")
    pp run "$cfg3"; expect_status 78; expect_grep 'no cluster model named "nosuch"' "$WORK/err"
    pp check "$cfg3" --db; expect_status 78; expect_grep 'no cluster model named "nosuch"' "$WORK/err"
    cfg4=$(model_config missing-v img t_mismatch "clusters_from: blobs@9" "kmeans: {metric: euclidean}")
    pp run "$cfg4"; expect_status 78; expect_grep 'has no version 9' "$WORK/err"
}

test_empty_selection_is_nothing_to_do() {
    cfg=$(model_config empty-day img t_empty "clusters_from: blobs" "kmeans: {metric: euclidean, refit_after: 1d}")
    sed -i 's/^  table: img$/  query: "SELECT * FROM img WHERE batch > 100"/' "$cfg"
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id empty; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 0 "pairs"
    expect_eq "$(sql "SELECT model_version || ' ' || model_refitted FROM pairpick_runs WHERE job = 'empty-day'")" "1 false" "no refit on no data"
    pp fit "$cfg"; expect_status 65; expect_grep "no selected row has a usable embedding" "$WORK/err"
}

test_config_errors() {
    cfg=$(model_config bad-ref img t_bad "clusters_from: 'blobs@x'")
    pp check "$cfg"; expect_status 78; expect_grep "bad-ref.yaml:13:18: strategy.clusters_from: expected MODEL or MODEL@VERSION" "$WORK/err"
    cfg=$(model_config bad-pca img t_bad "kmeans: {pca: 4}")
    pp check "$cfg"; expect_status 78; expect_grep "strategy.kmeans.pca: applies to a stored cluster model" "$WORK/err"
    cfg=$(model_config bad-pin img t_bad "clusters_from: blobs@1" "kmeans: {refit_after: 7d}")
    pp check "$cfg"; expect_status 78; expect_grep "cannot refit a pinned version" "$WORK/err"
    cfg=$(model_config bad-typo img t_bad "clusters_from: blobs" "kmeans: {refit_afer: 7d}")
    pp check "$cfg"; expect_status 78; expect_grep "refit_after" "$WORK/err"
    cfg=$(model_config no-name img t_bad)
    pp fit "$cfg"; expect_status 78; expect_grep "pairpick fit needs strategy.clusters_from" "$WORK/err"
}

test_sample_shows_stored_clusters() {
    mkdir -p "$WORK/images"
    for id in $(sql "SELECT id FROM img"); do : >"$WORK/images/$id.svg"; done
    cfg=$(model_config assign-a img t_assign_a "clusters_from: blobs" "kmeans: {metric: euclidean}")
    pp sample "$cfg" --out "$WORK/sheet1" --per-category 10000 --seed 1; expect_status 0
    pp sample "$cfg" --out "$WORK/sheet2" --per-category 10000 --seed 2; expect_status 0
    (cd "$WORK/sheet1" && find . -name '*.svg' | sed 's|^\./||; s|/| |; s|\.svg$||' | awk '{print $2 "|" $1}' | sort) >"$WORK/s1"
    (cd "$WORK/sheet2" && find . -name '*.svg' | sed 's|^\./||; s|/| |; s|\.svg$||' | awk '{print $2 "|" $1}' | sort) >"$WORK/s2"
    expect_eq "$(wc -l <"$WORK/s1")" "$(sql "SELECT count(*) FROM img")" "every image placed"
    cmp -s "$WORK/s1" "$WORK/s2" || fail "two contact sheets put images in different clusters"
    # the sheet's folders are the runs' categories
    labels_of t_assign_b | sed 's/cluster:/cluster-/' >"$WORK/b"
    differ=$(join -t '|' "$WORK/s1" "$WORK/b" | awk -F'|' '$2 != $3' | wc -l)
    expect_eq "$differ" 0 "contact sheet cluster differs from the run's"
}

# Assigning over several connections: the same labels, rows and drift as
# over one (each worker assigns its partition; labels are put back in the
# order the partitions' images are merged).
test_assign_over_three_workers() {
    # rows a partition counts but skips: its labels must move down to meet
    # the next partition's
    sql "INSERT INTO img SELECT 'null-' || i, 9, 0, random(), NULL FROM generate_series(1, 40) AS i" >/dev/null
    for workers in 1 3; do
        cfg=$(model_config "assign-w$workers" img "t_assign_w$workers" "clusters_from: blobs" \
            "kmeans: {metric: euclidean}")
        printf 'resources:\n  workers: %s\n' "$workers" >>"$cfg"
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --dry-run --labels-file "$WORK/assign-w$workers.csv"; expect_status 0
        expect_eq "$(json_field memory_mode)" assign "memory mode with $workers workers"
        sort "$WORK/assign-w$workers.csv" >"$WORK/assign-w$workers.sorted"
        echo "$(json_field rows_read) $(json_field rows_skipped) $(json_field candidates)" >"$WORK/assign-w$workers.counts"
        tail -n 1 "$WORK/out" >"$WORK/assign-w$workers.json"
    done
    expect_eq "$(wc -l < "$WORK/assign-w3.sorted")" "$(($(json_field candidates) + 1))" "a label per image (and the header)"
    cmp -s "$WORK/assign-w1.sorted" "$WORK/assign-w3.sorted" || fail "labels differ between 1 and 3 workers"
    expect_eq "$(cat "$WORK/assign-w3.counts")" "$(cat "$WORK/assign-w1.counts")" "rows read, skipped, candidates"
    # the same clusters and shares; distances within 1e-5 relative: a tile's
    # sgemm rounds the last float bit by which rows share the tile, and the
    # report prints 6 significant digits (a quantum of 1e-6 relative)
    expect_eq "$(echo "SELECT json_array_length(:'a'::json->'drift') || ' ' || count(*)
                FROM json_array_elements(:'a'::json->'drift') x
                FULL JOIN json_array_elements(:'b'::json->'drift') y ON x->>'cluster' = y->>'cluster'
                WHERE x IS NULL OR y IS NULL OR x->>'share' <> y->>'share'
                   OR abs((x->>'mean_distance')::float8 - (y->>'mean_distance')::float8)
                      > 1e-5 * greatest(abs((x->>'mean_distance')::float8),
                                        abs((y->>'mean_distance')::float8))" |
        psql -X -At -v ON_ERROR_STOP=1 -v a="$(cat "$WORK/assign-w1.json")" -v b="$(cat "$WORK/assign-w3.json")")" \
        "5 0" "drift entries, and those that differ between 1 and 3 workers"
    echo "    drift, 1 vs 3 workers: largest relative difference of a mean distance $(echo "SELECT
        coalesce(max(abs((x->>'mean_distance')::float8 - (y->>'mean_distance')::float8)
                     / nullif(abs((x->>'mean_distance')::float8), 0)), 0)::real
        FROM json_array_elements(:'a'::json->'drift') x
        JOIN json_array_elements(:'b'::json->'drift') y ON x->>'cluster' = y->>'cluster'" |
        psql -X -At -v ON_ERROR_STOP=1 -v a="$(cat "$WORK/assign-w1.json")" -v b="$(cat "$WORK/assign-w3.json")")"
    expect_eq "$(json_field rows_skipped)" 40 "rows without an embedding skipped"
    # fitting over 3 workers (each partition samples its share), and a due
    # refit that fits and assigns over them: each blob is one cluster
    cfg=$(model_config fit-w3 img t_fit_w3 "clusters_from: blobs-w3" \
        "kmeans: {metric: euclidean, fit_sample: 300, refit_after: 1d}")
    printf 'resources:\n  workers: 3\n' >>"$cfg"
    pp migrate "$cfg"; expect_status 0
    pp fit "$cfg"; expect_status 0
    expect_eq "$(json_field fit_rows)" 300 "fitted on the sample"
    expect_eq "$(json_field rows_skipped)" 40 "rows skipped by the fit's read"
    sql "UPDATE pairpick_cluster_models SET fitted_at = now() - interval '2 days' WHERE name = 'blobs-w3'" >/dev/null
    pp run "$cfg" --run-id fit-w3 --labels-file "$WORK/fit-w3.csv"; expect_status 0
    expect_eq "$(sql "SELECT model_version || ' ' || model_refitted FROM pairpick_runs WHERE run_id = 'fit-w3'")" "2 true" "refitted over 3 workers"
    sql "CREATE TABLE fit_w3_labels (id text, label text)" >/dev/null
    psql -X -q -v ON_ERROR_STOP=1 -c "\\copy fit_w3_labels FROM '$WORK/fit-w3.csv' (FORMAT csv, HEADER true)"
    expect_eq "$(sql "SELECT count(DISTINCT (i.blob, l.label)) || ' ' || count(*) FROM img i JOIN fit_w3_labels l ON l.id = i.id")" \
        "5 $(json_field candidates)" "blob -> cluster one to one, every image labelled"
    sql "DELETE FROM img WHERE id LIKE 'null-%'" >/dev/null
}

# Peak RSS of an assignment run at N and 10N rows of 128-d embeddings. The
# embeddings alone would be 512 B a row; ids (11 bytes), their offsets and
# hash index, the score, the label and the category are about 60 B a row,
# doubled at worst by growth of the arrays: the bound is 160 B a row plus
# 8 MB for allocator and libpq buffers. The same job fitting in memory (no
# clusters_from) must grow by at least the embeddings, or the measurement
# could not tell the two apart.
test_assign_memory_is_constant_per_row() {
    skip_if_sanitized "an AddressSanitizer build's RSS is its shadow memory"
    n=5000
    cfg=$(MAX_PAIRS=100 model_config mem-job big t_mem "clusters_from: mem" "kmeans: {metric: euclidean, fit_sample: 2000}")
    fitting=$(MAX_PAIRS=100 model_config mem-fit big t_mem_fit "kmeans: {metric: euclidean}")
    pp migrate "$cfg"; expect_status 0
    pp migrate "$fitting"; expect_status 0
    sql "SELECT add_images(1, $n, 128, 'big')" >/dev/null
    pp fit "$cfg"; expect_status 0
    rss() { # config run-id -> peak RSS in kB
        /usr/bin/time -v "$PAIRPICK" run "$1" --run-id "$2" >"$WORK/out" 2>"$WORK/err" || { STATUS=$?; fail "run $2 exit $STATUS"; }
        awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$WORK/err"
    }
    small=$(rss "$cfg" mem-n)
    small_fit=$(rss "$fitting" fit-n)
    sql "SELECT add_images(2, $((9 * n)), 128, 'big')" >/dev/null
    large=$(rss "$cfg" mem-10n)
    expect_eq "$(json_field rows_read)" $((10 * n)) "rows at 10N"
    expect_eq "$(json_field memory_mode)" assign "memory mode"
    large_fit=$(rss "$fitting" fit-10n)
    expect_eq "$(json_field memory_mode)" in_memory "memory mode without a model"
    growth=$(( (large - small) * 1024 ))
    growth_fit=$(( (large_fit - small_fit) * 1024 ))
    bound=$(( 9 * n * 160 + 8 * 1024 * 1024 ))
    matrix=$(( 9 * n * 128 * 4 ))
    echo "    peak RSS, clusters_from: N=$n ${small} kB, 10N ${large} kB: +$growth B, $((growth / (9 * n))) B per added row (bound $bound B)"
    echo "    peak RSS, fitting in memory: N=$n ${small_fit} kB, 10N ${large_fit} kB: +$growth_fit B, $((growth_fit / (9 * n))) B per added row (the added embeddings: $matrix B)"
    [ "$growth" -le "$bound" ] || fail "RSS grew by $growth B for $((9 * n)) rows, bound $bound"
    [ "$growth_fit" -ge "$matrix" ] || fail "the in-memory run grew by $growth_fit B, less than its $matrix B of embeddings: the measurement cannot tell"
}

start_server
make_schema
# In this order: later tests use the model the first one fits.
run_tests "${@:-test_config_errors test_fit_then_assign_runs_keep_ids test_models_lists_versions
    test_pca_model_and_variance_kept test_refit_after_only_when_due
    test_mismatch_exits_65_and_writes_nothing test_empty_selection_is_nothing_to_do
    test_sample_shows_stored_clusters test_bridges_join_nearest_stored_centres
    test_assign_over_three_workers test_assign_memory_is_constant_per_row}"
