#!/usr/bin/env bash
# Representative runs of the real binary under valgrind (memcheck, full leak
# check) against a throwaway PostgreSQL: a bad config, a score run, an
# embedding run, a dry run, a stored cluster model (fit, assign, refit,
# mismatch), a run that fails in the database, an
# unreachable server. A memory error or a definite leak makes valgrind exit
# 1, which pairpick itself never does (its codes are sysexits), so
# expect_status catches it and the valgrind log is shown.
#
#   make test-valgrind      or: tests/integration/valgrind.sh [test_name ...]
# PAIRPICK_VALGRIND overrides the valgrind command line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BINARY=$PAIRPICK
# One BLAS thread: valgrind runs a process's threads one at a time anyway,
# and OpenBLAS's idle pool threads would only spin beside k-means.
export OPENBLAS_NUM_THREADS=1
VALGRIND_COMMAND=${PAIRPICK_VALGRIND:-valgrind --leak-check=full --error-exitcode=1 --errors-for-leak-kinds=definite --suppressions=$ROOT/tests/valgrind.supp --quiet}
command -v valgrind >/dev/null || { echo "valgrind is not installed (make deps-test)" >&2; exit 1; }

# pp (lib.sh) runs $PAIRPICK: make that valgrind around the binary, one log per process.
PAIRPICK=$WORK/pairpick-under-valgrind
cat >"$PAIRPICK" <<SH
#!/bin/sh
exec $VALGRIND_COMMAND --log-file="$WORK/valgrind.%p.log" "$BINARY" "\$@"
SH
chmod +x "$PAIRPICK"

# Shows the valgrind reports of the last runs on failure, then clears them.
checked() { # expected-status
    local rc=0
    expect_status "$1" || rc=1
    if [ -n "$(find "$WORK" -maxdepth 1 -name 'valgrind.*.log' -size +0c)" ]; then
        echo "    --- valgrind:" >&2
        cat "$WORK"/valgrind.*.log | sed 's/^/    | /' >&2
        rc=1
    fi
    rm -f "$WORK"/valgrind.*.log
    return "$rc"
}

config() { # job table strategy-yaml
    write_config "$1" <<YAML
job: $1
source:
  table: demo.images
  id: job_uuid
  score: score
  variance: score_variance
  category: topic
  embedding: clip_embedding
filters:
  variance: {max: 0.07}
$3
output:
  table: $2
YAML
}

test_valgrind_bad_config() {
    cfg=$(write_config vg-bad <<'YAML'
job: vg-bad
source:
  table: demo.images
  id: job_uuid
strategy:
  by: score
  bnis: 3
YAML
)
    pp check "$cfg"; checked 78
    expect_grep 'did you mean "bins"' "$WORK/err"
}

test_valgrind_score_run() {
    cfg=$(config vg-score vg_score 'strategy: {by: score, bins: 5, max_pairs: 200, seed: 1}')
    pp migrate "$cfg"; checked 0
    pp run "$cfg" --run-id s1; checked 0
    expect_eq "$(sql "SELECT count(*) FROM vg_score")" 200 "pairs"
    pp run "$cfg" --run-id s1; checked 0
    expect_eq "$(json_field status)" already_succeeded "rerun"
    pp status "$cfg"; checked 0
}

test_valgrind_embedding_run() {
    cfg=$(config vg-emb vg_emb 'strategy:
  by: [embedding, score]
  clusters: 6
  bins: 2
  kmeans: {n_init: 1, max_iter: 20}
  max_pairs: 100
  seed: 2')
    pp migrate "$cfg"; checked 0
    pp run "$cfg"; checked 0
    expect_eq "$(sql "SELECT count(*) FROM vg_emb")" 100 "pairs"
}

test_valgrind_dry_run_by_category() {
    cfg=$(config vg-cat vg_cat 'strategy: {by: category, max_pairs: 50}')
    pp migrate "$cfg"; checked 0
    pp run "$cfg" --dry-run; checked 0
    pp explain "$cfg"; checked 0
}

test_valgrind_failing_run() {
    cfg=$(config vg-fail vg_fail 'strategy: {by: score, max_pairs: 50}')
    pp migrate "$cfg"; checked 0
    sql "CREATE FUNCTION vg_fail_boom() RETURNS trigger LANGUAGE plpgsql AS
         \$\$ BEGIN RAISE EXCEPTION 'boom under valgrind'; END \$\$;
         CREATE TRIGGER boom BEFORE INSERT ON vg_fail FOR EACH ROW EXECUTE FUNCTION vg_fail_boom();" >/dev/null
    pp run "$cfg" --run-id f1; checked 70
    expect_grep "boom under valgrind" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM vg_fail")" 0 "rows"
}

test_valgrind_unreachable() {
    cfg=$(write_config vg-down <<YAML
job: vg-down
database:
  conninfo: "host=$WORK/nowhere port=1"
  connect_retries: 1
source:
  table: demo.images
  id: job_uuid
  score: score
strategy:
  by: score
YAML
)
    pp run "$cfg"; checked 69
}

test_valgrind_stored_model() {
    cfg=$(config vg-model vg_model 'strategy:
  by: embedding
  clusters: 4
  clusters_from: vg-topics
  kmeans: {n_init: 1, max_iter: 20, pca: 8, fit_sample: 200, refit_after: 7d}
  max_pairs: 100
  seed: 3')
    # the first 32 dimensions: PCA of 768 under valgrind would take minutes
    sed -i 's/embedding: clip_embedding/embedding: "clip_embedding[1:32]"/' "$cfg"
    pp migrate "$cfg"; checked 0
    pp fit "$cfg"; checked 0
    expect_eq "$(json_field dim)" 32 "dimensions"
    pp run "$cfg" --run-id m1; checked 0
    expect_eq "$(json_field memory_mode)" assign "assigned"
    sql "UPDATE pairpick_cluster_models SET fitted_at = now() - interval '8 days'" >/dev/null
    pp run "$cfg" --run-id m2; checked 0
    expect_eq "$(sql "SELECT model_version FROM pairpick_runs WHERE run_id = 'm2'")" 2 "refitted"
    pp models "$cfg" --json; checked 0
    sed -i 's/kmeans: {n_init: 1/kmeans: {metric: euclidean, n_init: 1/; s/, refit_after: 7d//' "$cfg"
    pp run "$cfg" --run-id m3; checked 65
    expect_grep "fitted with metric cosine" "$WORK/err"
}

start_server
psql -q -X -v ON_ERROR_STOP=1 -v images=400 -f "$ROOT/sql/demo/demo_images.sql" >/dev/null 2>&1
run_tests "$@"
