#!/usr/bin/env bash
# Integration tests of running under a scheduler: the job lock, reruns,
# signals, --as-of, scheduler outputs (xcom, rejects, metrics, JSON logs),
# ${VAR} masking and the least-privilege role. A real, throwaway PostgreSQL.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# A job over demo.images; a slow source (pg_sleep per row) when $3 is "slow".
job_config() { # job table [slow]
    local source="  table: demo.images"
    if [ "${3:-}" = slow ]; then
        source='  query: "SELECT i.*, pg_sleep(0.002) AS pause FROM demo.images AS i"'
    elif [ "${3:-}" = noisy ]; then
        source='  query: "SELECT i.* FROM demo.images AS i WHERE t_noisy_source()"'
    fi
    write_config "$1" <<YAML
job: $1
source:
$source
  id: job_uuid
  score: score
  date: created_at
strategy:
  by: score
  bins: 5
  max_pairs: 100
output:
  table: $2
YAML
}

wait_for() { # sql-condition, up to ~20 s
    for _ in $(seq 1 200); do
        [ "$(sql "SELECT $1")" = t ] && return 0
        sleep 0.1
    done
    fail "timed out waiting for: $1"
}

test_concurrent_runs_of_one_job_one_wins() {
    cfg=$(job_config lock-a t_lock slow)
    pp migrate "$cfg"; expect_status 0
    "$PAIRPICK" run "$cfg" --run-id first >"$WORK/first.out" 2>"$WORK/first.err" &
    first=$!
    wait_for "EXISTS (SELECT FROM pairpick_runs WHERE job = 'lock-a' AND status = 'running')"
    pp run "$cfg" --run-id second; expect_status 75
    expect_grep 'run first' "$WORK/err"
    pp run "$cfg" --run-id third --skip-exit-code 99; expect_status 99
    wait "$first" || fail "the first run failed: $(cat "$WORK/first.err")"
    expect_eq "$(sql "SELECT string_agg(DISTINCT run_id, ',') FROM t_lock")" first "only the first run inserted"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE job = 'lock-a'")" 1 "the refused runs left no record"
    # --wait-lock: waits for the holder instead of giving up
    "$PAIRPICK" run "$cfg" --run-id fourth >/dev/null 2>&1 &
    fourth=$!
    wait_for "EXISTS (SELECT FROM pairpick_runs WHERE job = 'lock-a' AND status = 'running')"
    pp run "$cfg" --run-id fifth --wait-lock 60s; expect_status 0
    wait "$fourth"
}

test_different_jobs_run_in_parallel() {
    a=$(job_config par-a t_par slow); b=$(job_config par-b t_par slow)
    pp migrate "$a"; expect_status 0
    "$PAIRPICK" run "$a" >"$WORK/a.out" 2>&1 & pa=$!
    "$PAIRPICK" run "$b" >"$WORK/b.out" 2>&1 & pb=$!
    wait "$pa" || fail "job a: $(cat "$WORK/a.out")"
    wait "$pb" || fail "job b: $(cat "$WORK/b.out")"
    expect_eq "$(sql "SELECT count(*) FROM t_par")" 200 "both jobs inserted"
}

# Two jobs over the same 20 images (190 pairs) choose 80 pairs each before
# either writes: a trigger holds each one's first INSERT until both are in
# it (active in an INSERT into t_over: pg_stat_activity keeps an idle
# session's last query, and a job idle after registering its run in
# pairpick_runs once let the first INSERT through alone). The loser of the unique key finds the pairs the winner stored, chooses
# again, and still stores 80 new pairs. prefer: random, so that every one of
# the 190 pairs is a candidate (informative's score window holds fewer than
# the 160 both jobs need).
test_jobs_choosing_the_same_pairs_at_once_both_get_their_budget() {
    for job in over-a over-b; do
        write_config "$job" >/dev/null <<YAML
job: $job
source:
  query: "SELECT i.* FROM demo.images AS i ORDER BY job_uuid LIMIT 20"
  id: job_uuid
  score: score
strategy:
  by: score
  bins: 1
  prefer: random
  max_pairs: 80
output:
  table: t_over
YAML
    done
    a=$WORK/over-a.yaml; b=$WORK/over-b.yaml
    pp migrate "$a"; expect_status 0
    sql "CREATE FUNCTION t_over_meet() RETURNS trigger LANGUAGE plpgsql AS \$\$
         BEGIN
             IF NOT EXISTS (SELECT FROM t_over) THEN
                 FOR i IN 1..300 LOOP
                     PERFORM pg_stat_clear_snapshot();
                     EXIT WHEN (SELECT count(*) FROM pg_stat_activity
                                WHERE application_name LIKE 'pairpick/over-_'
                                  AND state = 'active'
                                  AND query LIKE 'INSERT INTO%t_over%') >= 2;
                     PERFORM pg_sleep(0.1);
                 END LOOP;
             END IF;
             RETURN NULL;
         END \$\$;
         CREATE TRIGGER meet BEFORE INSERT ON t_over
             FOR EACH STATEMENT EXECUTE FUNCTION t_over_meet();" >/dev/null
    "$PAIRPICK" run "$a" >"$WORK/a.out" 2>"$WORK/a.err" & pa=$!
    "$PAIRPICK" run "$b" >"$WORK/b.out" 2>"$WORK/b.err" & pb=$!
    wait "$pa" || fail "job a: $(cat "$WORK/a.err")"
    wait "$pb" || fail "job b: $(cat "$WORK/b.err")"
    cat "$WORK/a.err" "$WORK/b.err" >"$WORK/err"
    expect_eq "$(sql "SELECT string_agg(job || '=' || pairs_chosen || '/' || pairs_inserted, ' '
                              ORDER BY job) FROM pairpick_runs WHERE job LIKE 'over-_'")" \
        "over-a=80/80 over-b=80/80" "each job's chosen/inserted pairs"
    expect_eq "$(sql "SELECT count(*), count(DISTINCT (image_a, image_b)) FROM t_over")" \
        "160|160" "pairs stored"
    expect_eq "$(sql "SELECT count(*) FROM t_over GROUP BY job ORDER BY job" | paste -sd,)" \
        "80,80" "pairs per job"
    expect_grep 'stored by another job since the read; choosing again' "$WORK/err"
}

test_sigkill_mid_write_leaves_nothing_and_next_run_marks_it_failed() {
    cfg=$(job_config kill-a t_kill)
    pp migrate "$cfg"; expect_status 0
    sql "CREATE FUNCTION t_kill_slow() RETURNS trigger LANGUAGE plpgsql AS
         \$\$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END \$\$;
         CREATE TRIGGER slow AFTER INSERT ON t_kill FOR EACH STATEMENT EXECUTE FUNCTION t_kill_slow();" >/dev/null
    "$PAIRPICK" run "$cfg" --run-id killed >/dev/null 2>&1 &
    victim=$!
    wait_for "EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'pairpick/kill-a'
                      AND state = 'active' AND query LIKE 'INSERT INTO%t_kill%')"
    kill -KILL "$victim"; wait "$victim" 2>/dev/null || true
    # the server notices the client is gone when the statement ends
    sql "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'pairpick/kill-a'" >/dev/null
    wait_for "NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'pairpick/kill-a')"
    expect_eq "$(sql "SELECT count(*) FROM t_kill")" 0 "rows left by the killed run"
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'killed'")" running "still marked running"
    sql "DROP TRIGGER slow ON t_kill" >/dev/null
    pp run "$cfg" --run-id next; expect_status 0
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'killed'")" failed "the dead run is marked failed"
    expect_grep "abandoned" <(sql "SELECT error FROM pairpick_runs WHERE run_id = 'killed'")
    pp run "$cfg" --run-id killed; expect_status 0   # a failed run id runs again
}

test_sigterm_while_streaming_exits_75_with_nothing_written() {
    cfg=$(job_config term-a t_term slow)
    pp migrate "$cfg"; expect_status 0
    "$PAIRPICK" run "$cfg" --run-id terminated >"$WORK/term.out" 2>"$WORK/term.err" &
    victim=$!
    wait_for "EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'pairpick/term-a' AND query LIKE 'COPY%')"
    start=$(date +%s%N)
    kill -TERM "$victim"
    set +e; wait "$victim"; status=$?; set -e
    elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "    exited $status ${elapsed_ms} ms after SIGTERM"
    [ "$status" -eq 75 ] || fail "exit $status, expected 75: $(cat "$WORK/term.err")"
    [ "$elapsed_ms" -lt 5000 ] || fail "took ${elapsed_ms} ms to stop"
    grep -q cancelled "$WORK/term.err" || fail "no 'cancelled' in the log"
    expect_eq "$(sql "SELECT count(*) FROM t_term")" 0 "rows written"
    expect_eq "$(sql "SELECT status || ': ' || left(error, 9) FROM pairpick_runs WHERE run_id = 'terminated'")" "failed: cancelled" "run record"
}

test_as_of_reads_the_same_window_after_new_rows() {
    cfg=$(job_config asof-a t_asof)
    printf 'filters:\n  date: {last: 7d}\n' >> "$cfg"
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id day --as-of 2026-11-28T00:00:00Z; expect_status 0
    first=$(json_field rows_read)
    [ "$first" -gt 0 ] || fail "no rows in the window"
    sql "INSERT INTO demo.images (job_uuid, score, score_variance, created_at, topic, file_path)
         SELECT md5('late-' || i)::uuid, 2.0, 0.01, now(), 'anime', 'x' FROM generate_series(1, 40) i" >/dev/null
    sql "UPDATE pairpick_runs SET status = 'failed' WHERE run_id = 'day'" >/dev/null  # retry it
    pp run "$cfg" --run-id day --as-of 2026-11-28T00:00:00Z; expect_status 0
    expect_eq "$(json_field rows_read)" "$first" "rows read on the retry"
    expect_eq "$(sql "SELECT as_of = '2026-11-28T00:00:00Z' FROM pairpick_runs WHERE run_id = 'day'")" t "as_of recorded"
    pp run "$cfg" --dry-run; expect_status 0
    [ "$(json_field rows_read)" -ne "$first" ] || fail "without --as-of the window should move"
    sql "DELETE FROM demo.images WHERE file_path = 'x'" >/dev/null
    pp run "$cfg" --as-of yesterday-ish; expect_status 64
}

test_xcom_and_rejects_files() {
    cfg=$(job_config xcom-a t_xcom)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id x1 --xcom-file "$WORK/return.json" --rejects "$WORK/rejects.csv"; expect_status 0
    cmp -s "$WORK/out" "$WORK/return.json" || fail "xcom file differs from stdout"
    nulls=$(sql "SELECT count(*) FROM demo.images WHERE score IS NULL")
    expect_eq "$(head -1 "$WORK/rejects.csv")" "id,reason" "CSV header"
    expect_eq "$(grep -c ',null_score$' "$WORK/rejects.csv")" "$nulls" "rejected rows"
    one=$(sed -n 2p "$WORK/rejects.csv" | cut -d, -f1 | tr -d '"')
    expect_eq "$(sql "SELECT score IS NULL FROM demo.images WHERE job_uuid::text = '$one'")" t "a rejected id has no score"
    # written on failure too
    sql "CREATE FUNCTION t_xcom_boom() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'boom'; END \$\$;
         CREATE TRIGGER boom BEFORE INSERT ON t_xcom FOR EACH ROW EXECUTE FUNCTION t_xcom_boom();" >/dev/null
    pp run "$cfg" --run-id x2 --xcom-file "$WORK/failed.json"
    [ "$STATUS" -ne 0 ] || fail "the run should fail"
    expect_eq "$(echo "SELECT (:'line'::json)->>'status';" | psql -X -At -v line="$(cat "$WORK/failed.json")")" failed "xcom on failure"
}

test_var_expansion_and_masked_conninfo() {
    cfg=$(job_config mask-a t_mask)
    sed -i "s|^job: mask-a|job: mask-a\ndatabase:\n  conninfo: \"host=\${PGHOST} user=\${PAIRPICK_TEST_USER:-postgres} password=\${PAIRPICK_TEST_SECRET}\"|" "$cfg"
    pp migrate "$cfg"; expect_status 78   # missing variable without default
    expect_grep "PAIRPICK_TEST_SECRET" "$WORK/err"
    export PAIRPICK_TEST_SECRET=hunter2-very-secret
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id masked; expect_status 0
    stored=$(sql "SELECT config->>'database.conninfo' FROM pairpick_runs WHERE run_id = 'masked'")
    case "$stored" in *hunter2*) fail "the password is stored: $stored" ;; esac
    # rebuilt from libpq's parse as key='value' pairs (issue 14.3)
    case "$stored" in *"password='***'"*) ;; *) fail "not masked: $stored" ;; esac
    case "$stored" in *"host='$PGHOST'"*) ;; *) fail "not expanded: $stored" ;; esac
}

test_json_logs_parse_line_by_line() {
    # The source raises a server NOTICE: it must come out as a log object too.
    sql "CREATE OR REPLACE FUNCTION t_noisy_source() RETURNS boolean LANGUAGE plpgsql STABLE AS
         \$\$ BEGIN RAISE NOTICE 'hello from the source'; RETURN true; END \$\$" >/dev/null
    cfg=$(job_config json-a t_json noisy)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --log-format json --verbose; expect_status 0
    lines=$(wc -l < "$WORK/err")
    [ "$lines" -ge 3 ] || fail "expected several log lines, got $lines"
    while IFS= read -r line; do
        echo "SELECT (:'line'::json)->>'level' IS NOT NULL AND (:'line'::json)->>'ts' IS NOT NULL
              AND (:'line'::json)->>'run_id' <> '' AND (:'line'::json)->>'stage' IS NOT NULL;" |
            psql -X -At -v ON_ERROR_STOP=1 -v line="$line" | grep -qx t || fail "not a log object: $line"
    done < "$WORK/err"
    expect_grep '"stage":"summary"' "$WORK/err"
    expect_grep 'hello from the source' "$WORK/err"
    pp run "$cfg" --quiet; expect_status 0
    [ ! -s "$WORK/err" ] || fail "--quiet printed: $(cat "$WORK/err")"
}

# A small Prometheus text-format parser: every line a comment or a sample.
prometheus_ok() { # file
    awk '
        /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* / { next }
        /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.eE+-]+$/ {
            samples++
            if ($0 ~ /^pairpick_pairs_inserted\{/) done = 1  # the last sample written
            next
        }
        { bad = 1; print "bad line: " $0 > "/dev/stderr" }
        END { exit (bad || samples < 10 || !done) }
    ' "$1"
}

test_metrics_file_is_prometheus_and_atomic() {
    cfg=$(job_config metrics-a t_metrics)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --metrics-file "$WORK/pairpick.prom"; expect_status 0
    prometheus_ok "$WORK/pairpick.prom" || fail "not Prometheus text: $(cat "$WORK/pairpick.prom")"
    expect_grep 'pairpick_pairs_inserted{pairpick_job="metrics-a"} 100' "$WORK/pairpick.prom"
    expect_grep 'pairpick_exit_status{pairpick_job="metrics-a"} 0' "$WORK/pairpick.prom"
    success=$(grep '^pairpick_last_success' "$WORK/pairpick.prom")
    # a reader never sees a half-written file while runs keep rewriting it
    ( for i in $(seq 1 15); do "$PAIRPICK" run "$cfg" --metrics-file "$WORK/pairpick.prom" >/dev/null 2>&1; done ) &
    writer=$!
    reads=0
    while kill -0 "$writer" 2>/dev/null; do
        # one open() per read: cp stats the name and then opens it, and
        # refuses a file renamed over in between (which is the point here)
        cat "$WORK/pairpick.prom" > "$WORK/snapshot.prom"
        prometheus_ok "$WORK/snapshot.prom" 2>/dev/null || fail "a half-written metrics file was seen"
        reads=$((reads + 1))
    done
    wait "$writer"
    echo "    $reads reads of the metrics file while it was rewritten 15 times"
    # a failed run keeps the last success time
    sql "ALTER TABLE t_metrics RENAME TO t_metrics_gone" >/dev/null
    before=$(grep '^pairpick_last_success' "$WORK/pairpick.prom")
    pp run "$cfg" --metrics-file "$WORK/pairpick.prom"; [ "$STATUS" -ne 0 ] || fail "should fail"
    expect_eq "$(grep '^pairpick_last_success' "$WORK/pairpick.prom")" "$before" "last success kept"
    grep -q "^pairpick_exit_status{pairpick_job=\"metrics-a\"} $STATUS\$" "$WORK/pairpick.prom" || fail "exit status not recorded"
    [ -n "$success" ] || fail "no success time"
    sql "ALTER TABLE t_metrics_gone RENAME TO t_metrics" >/dev/null
}

test_least_privilege_role_runs_and_cannot_drop() {
    cfg=$(job_config role-a t_role)
    pp migrate "$cfg"; expect_status 0
    psql -X -q -v role=pairpick_job -v source=demo.images -v output=t_role \
        -f "$ROOT/sql/roles/least_privilege.sql" >/dev/null
    PGUSER=pairpick_job pp check "$cfg" --db; expect_status 0
    PGUSER=pairpick_job pp run "$cfg"; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_role")" 100 "pairs inserted by the role"
    set +e
    psql -X -U pairpick_job -c "DROP TABLE t_role" >/dev/null 2>&1; drop=$?
    psql -X -U pairpick_job -c "DELETE FROM t_role" >/dev/null 2>&1; delete=$?
    psql -X -U pairpick_job -c "DROP TABLE pairpick_runs" >/dev/null 2>&1; drop_runs=$?
    set -e
    [ "$drop" -ne 0 ] && [ "$delete" -ne 0 ] && [ "$drop_runs" -ne 0 ] || fail "the role could drop or delete"
    expect_eq "$(sql "SELECT count(*) FROM t_role")" 100 "table intact"
    # check --db names a missing privilege
    sql "REVOKE INSERT ON t_role FROM pairpick_job" >/dev/null
    PGUSER=pairpick_job pp check "$cfg" --db; expect_status 78
    expect_grep "INSERT on the output table" "$WORK/err"
}

test_skip_exit_code_when_nothing_to_do() {
    cfg=$(job_config skip-a t_skip)
    printf 'filters:\n  score: {min: 100}\n' >> "$cfg"
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 0 "nothing to do"
    expect_eq "$(sql "SELECT status || ' ' || pairs_inserted FROM pairpick_runs WHERE job = 'skip-a'")" "succeeded 0" "run recorded with 0 pairs"
    pp run "$cfg" --skip-exit-code 99; expect_status 99
}

test_status_lists_runs() {
    cfg=$(job_config status-a t_status)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id s1; expect_status 0
    pp status "$cfg"; expect_status 0
    expect_grep "s1 .*succeeded" "$WORK/out"
}

start_server_with_demo 1500
run_tests "$@"
