#!/usr/bin/env bash
# Integration tests of what a run writes besides the database: side files
# (xcom, metrics, rejects, labels, pairs) written whole or not at all and
# never over a device or through a planted symlink; a full disk, a closed
# pipe and SIGHUP; a stopped backend under a cancel; the metrics Prometheus
# keeps; and one truthful JSON stream (exit_code equals $?). A real,
# throwaway PostgreSQL. Usage: outputs.sh [test_name ...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# A score job over demo.images; a slow source (pg_sleep per row) when $3 is "slow".
job_config() { # job table [slow]
    local source="  table: demo.images"
    if [ "${3:-}" = slow ]; then
        source='  query: "SELECT i.*, pg_sleep(0.002) AS pause FROM demo.images AS i"'
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

# pp under `timeout`: a hang is exit 137, never a stuck suite.
pp_bounded() { # seconds args...
    local seconds=$1
    shift
    set +e
    timeout -s KILL "$seconds" "$PAIRPICK" "$@" >"$WORK/out" 2>"$WORK/err"
    STATUS=$?
    set -e
}

test_side_files_refuse_devices_and_missing_folders() {
    cfg=$(job_config dev-a t_dev)
    pp migrate "$cfg"; expect_status 0
    # Copies of /dev/full and /dev/stdout, never the real ones: the code
    # before this test replaced the destination with a regular file.
    mknod "$WORK/full" c 1 7 2>/dev/null || skip "cannot create a device node here (mknod needs root)"
    ln -s /proc/self/fd/1 "$WORK/stdout"
    # a device node that reads forever and cannot be written: refused at once
    pp_bounded 20 run "$cfg" --metrics-file "$WORK/full"; expect_status 64
    expect_grep "cannot write metrics file '$WORK/full'" "$WORK/err"
    expect_grep "not a regular file" "$WORK/err"
    [ -c "$WORK/full" ] || fail "the device node was replaced by a regular file"
    pp_bounded 20 run "$cfg" --xcom-file "$WORK/full"; expect_status 64
    [ -c "$WORK/full" ] || fail "the device node was replaced by a regular file"
    pp_bounded 20 run "$cfg" --rejects "$WORK/stdout"; expect_status 64
    [ -L "$WORK/stdout" ] || fail "the symlink to stdout was replaced"
    # a missing folder is reported before anything is committed
    pp_bounded 20 run "$cfg" --run-id d1 --xcom-file "$WORK/no/such/return.json"; expect_status 64
    expect_grep "cannot write xcom file '$WORK/no/such/return.json'" "$WORK/err"
    pp_bounded 20 run "$cfg" --run-id d2 --metrics-file "$WORK/no/such/p.prom"; expect_status 64
    expect_eq "$(sql "SELECT count(*) FROM t_dev")" 0 "pairs committed"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE job = 'dev-a'")" 0 "runs registered"
}

test_planted_symlink_at_the_temporary_name_is_not_followed() {
    cfg=$(job_config link-a t_link)
    pp migrate "$cfg"; expect_status 0
    echo victim >"$WORK/victim"
    for name in labels.csv rejects.csv return.json p.prom; do
        ln -s "$WORK/victim" "$WORK/$name.tmp"
        ln -s "$WORK/victim" "$WORK/$name.tmp.$$"
    done
    pp run "$cfg" --labels-file "$WORK/labels.csv" --rejects "$WORK/rejects.csv" \
        --xcom-file "$WORK/return.json" --metrics-file "$WORK/p.prom"; expect_status 0
    expect_eq "$(cat "$WORK/victim")" victim "the symlink's target"
    expect_eq "$(head -1 "$WORK/labels.csv")" "id,label" "labels written"
    ls "$WORK" | grep -q 'tmp-' && fail "a temporary file was left: $(ls "$WORK")"
    return 0
}

test_failed_run_keeps_the_complete_rejects_file() {
    cfg=$(job_config keep-a t_keep)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id k1 --rejects "$WORK/rejects.csv"; expect_status 0
    cp "$WORK/rejects.csv" "$WORK/complete.csv"
    [ "$(wc -l <"$WORK/complete.csv")" -gt 1 ] || fail "no rejected rows to keep"
    sql "CREATE FUNCTION t_keep_boom() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'boom'; END \$\$;
         CREATE TRIGGER boom BEFORE INSERT ON t_keep FOR EACH ROW EXECUTE FUNCTION t_keep_boom();" >/dev/null
    echo "partial" >"$WORK/marker"
    sql "UPDATE demo.images SET score = NULL WHERE job_uuid IN (SELECT job_uuid FROM demo.images WHERE score IS NOT NULL LIMIT 5)" >/dev/null
    pp run "$cfg" --run-id k2 --rejects "$WORK/rejects.csv"
    [ "$STATUS" -ne 0 ] || fail "the run should fail"
    cmp -s "$WORK/rejects.csv" "$WORK/complete.csv" || fail "a failed run replaced the rejects file"
}

# A full disk: RLIMIT_FSIZE (SIGXFSZ ignored) makes every write past the
# limit fail with EFBIG, as ENOSPC would. stdout goes through a pipe, which
# the limit does not touch.
test_full_disk_on_a_side_file_is_an_error() {
    cfg=$(job_config full-a t_full)
    pp migrate "$cfg"; expect_status 0
    for option in --xcom-file --rejects --metrics-file --labels-file; do
        rm -f "$WORK/side"
        set +e
        ( trap '' XFSZ; ulimit -f 0; exec timeout -s KILL 30 "$PAIRPICK" run "$cfg" "$option" "$WORK/side" 2>&1 ) | cat >"$WORK/out"
        STATUS=${PIPESTATUS[0]}
        set -e
        cp "$WORK/out" "$WORK/err"
        echo "    $option on a full disk: exit $STATUS"
        expect_status 74
        expect_grep "cannot write $(echo "${option#--}" | tr - ' ')" "$WORK/err"
        [ ! -e "$WORK/side" ] || fail "$option: an empty or partial file was published"
        expect_eq "$(json_field exit_code)" 74 "exit_code in the JSON"
    done
    # the rejects and labels are written before the commit: nothing committed for them
    expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE job = 'full-a' AND status = 'running'")" 0 "runs left running"
}

test_closed_stdout_and_stderr_pipes() {
    cfg=$(job_config pipe-a t_pipe)
    pp migrate "$cfg"; expect_status 0
    # stdout a pipe nobody reads: the run ends with 74, its record is not left running
    set +e
    ( sleep 0.3; exec timeout -s KILL 30 "$PAIRPICK" run "$cfg" --run-id p1 2>"$WORK/err" ) | true
    STATUS=${PIPESTATUS[0]}
    set -e
    echo "    stdout closed: exit $STATUS"
    expect_status 74
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'p1'")" succeeded "run record (stdout closed)"
    # stderr a pipe nobody reads: the JSON on stdout says 74 as the process does
    set +e
    ( sleep 0.3; exec timeout -s KILL 30 "$PAIRPICK" run "$cfg" --run-id p2 --xcom-file "$WORK/p2.json" 2>&1 >"$WORK/out" ) | true
    STATUS=${PIPESTATUS[0]}
    set -e
    echo "    stderr closed: exit $STATUS"
    expect_status 74
    expect_eq "$(json_field exit_code)" 74 "exit_code in the JSON"
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'p2'")" succeeded "run record (stderr closed)"
    cmp -s "$WORK/out" "$WORK/p2.json" || fail "xcom file differs from stdout"
    # stdout closed altogether: nothing lands in a side file
    set +e
    timeout -s KILL 30 "$PAIRPICK" run "$cfg" --run-id p4 --labels-file "$WORK/p4.csv" >&- 2>"$WORK/err"
    STATUS=$?
    set -e
    expect_status 74
    grep -q '"run_id"' "$WORK/p4.csv" && fail "the JSON summary went into the labels file"
    return 0
}

test_sighup_cancels_like_sigterm() {
    cfg=$(job_config hup-a t_hup slow)
    pp migrate "$cfg"; expect_status 0
    "$PAIRPICK" run "$cfg" --run-id hung >"$WORK/out" 2>"$WORK/err" &
    victim=$!
    wait_for "EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'pairpick/hup-a' AND query LIKE 'COPY%')"
    kill -HUP "$victim"
    set +e; wait "$victim"; STATUS=$?; set -e
    echo "    exit $STATUS after SIGHUP"
    expect_status 75
    expect_eq "$(json_field exit_code)" 75 "exit_code in the JSON"
    expect_eq "$(sql "SELECT status || ': ' || left(error, 9) FROM pairpick_runs WHERE run_id = 'hung'")" "failed: cancelled" "run record"
    expect_eq "$(sql "SELECT count(*) FROM t_hup")" 0 "rows written"
}

test_cancel_with_a_stopped_backend_ends_in_bounded_time() {
    cfg=$(job_config stop-a t_stop slow)
    pp migrate "$cfg"; expect_status 0
    "$PAIRPICK" run "$cfg" --run-id stopped >"$WORK/out" 2>"$WORK/err" &
    victim=$!
    wait_for "EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'pairpick/stop-a' AND query LIKE 'COPY%')"
    backends=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'pairpick/stop-a%'")
    # shellcheck disable=SC2086
    kill -STOP $backends
    start=$(date +%s%N)
    kill -TERM "$victim"
    ( sleep 30; kill -KILL "$victim" 2>/dev/null ) &
    guard=$!
    set +e; wait "$victim"; STATUS=$?; set -e
    elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    kill "$guard" 2>/dev/null || true
    # shellcheck disable=SC2086
    kill -CONT $backends
    echo "    exit $STATUS ${elapsed_ms} ms after SIGTERM with the backend stopped"
    expect_status 75
    [ "$elapsed_ms" -lt 12000 ] || fail "took ${elapsed_ms} ms"
    expect_eq "$(sql "SELECT count(*) FROM t_stop")" 0 "rows written"
}

test_metrics_pass_promtool() {
    command -v promtool >/dev/null || skip "promtool (Debian package prometheus) is not installed"
    cfg=$(job_config prom-a t_prom)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --metrics-file "$WORK/p.prom"; expect_status 0
    promtool check metrics <"$WORK/p.prom" >"$WORK/promtool" 2>&1 || fail "promtool: $(cat "$WORK/promtool")"
    grep -q '{job=' "$WORK/p.prom" && fail "a series labelled job"
    expect_grep 'pairpick_pairs_inserted{pairpick_job="prom-a"} 100' "$WORK/p.prom"
    expect_grep 'pairpick_pending_pairs{pairpick_job="prom-a"} 100' "$WORK/p.prom"
    nulls=$(sql "SELECT count(*) FROM demo.images WHERE score IS NULL")
    expect_grep "pairpick_rows_skipped{pairpick_job=\"prom-a\",reason=\"null_score\"} $nulls" "$WORK/p.prom"
    pp run "$cfg" --metrics-file "$WORK/p.prom"; expect_status 0
    expect_grep 'pairpick_pending_pairs{pairpick_job="prom-a"} 200' "$WORK/p.prom"
    promtool check metrics <"$WORK/p.prom" >"$WORK/promtool" 2>&1 || fail "promtool: $(cat "$WORK/promtool")"
}

test_json_exit_code_equals_the_exit_status() {
    cfg=$(job_config skip-b t_skip_b)
    printf 'filters:\n  score: {min: 100}\n' >> "$cfg"
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --skip-exit-code 99 --xcom-file "$WORK/x.json" --metrics-file "$WORK/x.prom"
    expect_status 99
    expect_eq "$(json_field exit_code)" "$STATUS" "exit_code in the JSON"
    expect_eq "$(json_field status)" skipped "status"
    expect_eq "$(json_field skip_reason)" nothing_to_do "skip_reason"
    cmp -s "$WORK/out" "$WORK/x.json" || fail "xcom file differs from stdout"
    expect_grep 'pairpick_exit_status{pairpick_job="skip-b"} 99' "$WORK/x.prom"
    # locked: the skip code, and the JSON says so
    lock=$(job_config lock-b t_lock_b slow)
    pp migrate "$lock"; expect_status 0
    "$PAIRPICK" run "$lock" --run-id holder >/dev/null 2>&1 &
    holder=$!
    wait_for "EXISTS (SELECT FROM pairpick_runs WHERE job = 'lock-b' AND status = 'running')"
    pp run "$lock" --skip-exit-code 99 --log-format json; expect_status 99
    expect_eq "$(json_field exit_code)" 99 "exit_code when locked"
    expect_eq "$(json_field skip_reason)" locked "skip_reason when locked"
    wait "$holder"
    # a plain failure: the same code in both
    pp run "$cfg" --max-pairs 10 --as-of not-a-time; expect_eq "$(json_field exit_code)" "$STATUS" "exit_code on failure"
}

# The run record's stage_seconds carries the write stage's time (the insert
# and the run's mark of success are inside it), not 0 as when it was
# written before the write began; the JSON's figure is at least as large.
test_run_record_stage_seconds_include_the_write() {
    cfg=$(job_config stages-w t_stages_w)
    pp migrate "$cfg"; expect_status 0
    # a trigger that takes 0.3 s makes the write stage measurable anywhere
    sql "CREATE FUNCTION slow_stages_w() RETURNS trigger LANGUAGE plpgsql AS
           \$\$BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END\$\$;
         CREATE TRIGGER slow_stages_w AFTER INSERT ON t_stages_w
           FOR EACH STATEMENT EXECUTE FUNCTION slow_stages_w()" >/dev/null
    pp run "$cfg" --run-id sw1; expect_status 0
    local stored json
    stored=$(sql "SELECT (stage_seconds ->> 'write')::float8 >= 0.3 FROM pairpick_runs WHERE run_id = 'sw1'")
    expect_eq "$stored" t "stored write stage >= 0.3 s ($(sql "SELECT stage_seconds FROM pairpick_runs WHERE run_id = 'sw1'"))"
    json=$(echo "SELECT ((:'line'::json) -> 'stage_seconds' ->> 'write')::float8 >=
                        (SELECT (stage_seconds ->> 'write')::float8 FROM pairpick_runs WHERE run_id = 'sw1');" |
        psql -X -At -v ON_ERROR_STOP=1 -v line="$(tail -n 1 "$WORK/out")")
    expect_eq "$json" t "the JSON's write stage is at least the stored one"
}

test_dry_run_json_logs_parse_line_by_line() {
    cfg=$(job_config dry-a t_dry)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --dry-run --log-format json; expect_status 0
    while IFS= read -r line; do
        echo "SELECT (:'line'::json)->>'level' IS NOT NULL;" |
            psql -X -At -v ON_ERROR_STOP=1 -v line="$line" 2>/dev/null | grep -qx t || fail "not JSON: $line"
    done <"$WORK/err"
    expect_eq "$(grep -c '"stage":"pair"' "$WORK/err")" 100 "pairs as log lines"
    expect_grep '"figures":{"id_a":' "$WORK/err"
    # --pairs-file: a CSV with a header and one line a pair, nothing on stderr about pairs
    pp run "$cfg" --dry-run --log-format json --pairs-file "$WORK/pairs.csv"; expect_status 0
    expect_eq "$(head -1 "$WORK/pairs.csv")" "id_a,id_b,category,score_a,score_b" "header"
    expect_eq "$(($(wc -l <"$WORK/pairs.csv") - 1))" 100 "pairs in the file"
    grep -q '"stage":"pair"' "$WORK/err" && fail "pairs also in the log"
    pp run "$cfg" --pairs-file "$WORK/pairs.csv"; expect_status 64
    expect_eq "$(sql "SELECT count(*) FROM t_dry")" 0 "pairs written by dry runs"
}

test_status_json_one_object_per_run() {
    cfg=$(job_config stat-b t_stat_b)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id j1; expect_status 0
    pp run "$cfg" --run-id j2; expect_status 0
    pp status "$cfg" --json; expect_status 0
    expect_eq "$(wc -l <"$WORK/out")" 2 "lines"
    while IFS= read -r line; do
        echo "SELECT (:'line'::json)->>'status' || ' ' || ((:'line'::json)->>'pairs_inserted');" |
            psql -X -At -v ON_ERROR_STOP=1 -v line="$line" | grep -qx "succeeded 100" || fail "bad line: $line"
    done <"$WORK/out"
}

start_server_with_demo 1500
run_tests "$@"
