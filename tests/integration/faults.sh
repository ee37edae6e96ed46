#!/usr/bin/env bash
# Integration tests of failing safe, against a real throwaway PostgreSQL:
# faults injected mid-run (the server restarted, the backend terminated,
# statement_timeout, memory exhausted), hostile names, bad data, and 16
# jobs at once on one output table. Each fault must end in a documented
# non-zero exit code (docs/pairpick.1: 69 unreachable at connect, 70 internal, 75 try again, a lost connection included)
# with a clear message, leave no pairs behind, and the next run must
# succeed.
#
#   tests/integration/faults.sh [test_name ...]     PAIRPICK=... for another build
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
# Faults injected, one line each in a file (tests run in subshells).
note_fault() { echo "$1" >>"$WORK/faults"; }

# pg_ctl as the cluster's owner, as tests/tools/pg.sh runs it.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# An immediate restart (no shutdown checkpoint: crash recovery on start).
# pg_ctl restart starts the server with the options of its last start
# (postmaster.opts), so the socket stays in $PAIRPICK_PGDIR and TCP off.
restart_server() {
    note_fault restart
    as_owner "$PGBIN/pg_ctl" -D "$PAIRPICK_PGDIR/data" -l "$PAIRPICK_PGDIR/server.log" \
        -m immediate -w -t 60 restart >/dev/null
    for _ in $(seq 100); do
        psql -X -At -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "    the server did not come back after the restart" >&2
    return 1
}

expect_grep_i() { # extended-regexp file, case-insensitive
    grep -qiE -- "$1" "$2" || fail "expected /$1/i in $(basename "$2")"
}

# Set-up statements that must survive an immediate restart: the test server
# runs with synchronous_commit=off, which can lose the last commits in a crash.
durable_sql() {
    sql "SET synchronous_commit = on; $1"
}

wait_for() { # sql-condition [seconds]
    local tries=$((${2:-30} * 10))
    for _ in $(seq "$tries"); do
        [ "$(sql "SELECT $1")" = t ] && return 0
        sleep 0.1
    done
    echo "    timed out waiting for: $1" >&2
    return 1
}

# Starts pairpick in the background (stdout/stderr in $WORK/out, $WORK/err).
pp_start() {
    "$PAIRPICK" "$@" >"$WORK/out" 2>"$WORK/err" &
    PP_PID=$!
}

# Waits for the background pairpick; its exit status in $STATUS.
pp_wait() {
    set +e
    wait "$PP_PID"
    STATUS=$?
    set -e
}

active_in() { # job stage-condition: the job's backend is at that point
    echo "EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'pairpick/$1%' AND $2)"
}
STREAMING="state = 'active' AND query LIKE 'COPY%TO STDOUT%'"
WRITING="wait_event = 'PgSleep' AND query LIKE 'INSERT INTO%'"

# Source rows come slowly while fault_settings.pace > 0: a short sleep per
# row, only inside the COPY (the count and the describe stay fast).
make_slow_source() {
    sql "CREATE TABLE IF NOT EXISTS fault_settings (pace float8 NOT NULL);
         INSERT INTO fault_settings SELECT 0 WHERE NOT EXISTS (SELECT FROM fault_settings);
         CREATE OR REPLACE FUNCTION fault_pace() RETURNS boolean LANGUAGE plpgsql VOLATILE AS \$\$
         BEGIN
             IF current_query() LIKE 'COPY%' THEN
                 PERFORM pg_sleep((SELECT pace FROM fault_settings));
             END IF;
             RETURN true;
         END \$\$;
         CREATE OR REPLACE VIEW slow_images AS SELECT * FROM demo.images
          WHERE (SELECT pace FROM fault_settings) = 0 OR fault_pace();" >/dev/null
}
set_pace() { durable_sql "UPDATE fault_settings SET pace = $1" >/dev/null; }

# A trigger that holds the pairs' INSERT for a minute (the time to inject a fault).
hold_inserts() { # table
    durable_sql "CREATE OR REPLACE FUNCTION fault_hold() RETURNS trigger LANGUAGE plpgsql AS
         \$\$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END \$\$;
         CREATE TRIGGER fault_hold BEFORE INSERT ON $1 FOR EACH STATEMENT
         EXECUTE FUNCTION fault_hold();" >/dev/null
}
release_inserts() { durable_sql "DROP TRIGGER fault_hold ON $1" >/dev/null; }

fault_config() { # job table [source] [extra yaml]
    write_config "$1" <<YAML
job: $1
${4:-}
source:
  table: ${3:-slow_images}
  id: job_uuid
  score: score
strategy:
  by: score
  bins: 5
  max_pairs: 120
  seed: 11
output:
  table: $2
YAML
}

# 40 pairs in 4 k-means clusters of the demo's embeddings.
embedding_config() { # job table [strategy line]
    write_config "$1" <<YAML
job: $1
source:
  table: demo.images
  id: job_uuid
  score: score
  embedding: clip_embedding
strategy:
  by: embedding
  clusters: 4
  ${3:-}
  max_pairs: 40
  seed: 3
output:
  table: $2
YAML
}

# The run failed cleanly: no pairs of it, none at all in its table.
expect_nothing_written() { # table run-id
    expect_eq "$(sql "SELECT count(*) FROM $1")" 0 "pairs left in $1 by the failed run $2"
    [ -z "$(grep -E '"status":"succeeded"' "$WORK/out" 2>/dev/null)" ] \
        || fail "a failed run reported success"
}

# The same run id, run again once the fault is gone, succeeds in full.
expect_rerun_succeeds() { # config table run-id
    pp run "$1" --run-id "$3"
    expect_status 0
    expect_eq "$(json_field status)" succeeded "status of the rerun"
    expect_eq "$(sql "SELECT count(*) FROM $2")" 120 "pairs after the rerun"
    expect_eq "$(sql "SELECT string_agg(status, ',') FROM pairpick_runs WHERE run_id = '$3'")" \
        succeeded "run record after the rerun"
}

# ---- faults -------------------------------------------------------------

test_server_restart_while_rows_stream() {
    cfg=$(fault_config fault-restart-read t_restart_read)
    pp migrate "$cfg"; expect_status 0
    set_pace 0.005
    pp_start run "$cfg" --run-id rr1
    wait_for "$(active_in fault-restart-read "$STREAMING")"
    restart_server
    pp_wait
    set_pace 0
    expect_status 75
    expect_grep_i "connection|terminat|shut" "$WORK/err"
    expect_grep_i 'copy "select images"|select images|stream' "$WORK/err"
    expect_nothing_written t_restart_read rr1
    expect_rerun_succeeds "$cfg" t_restart_read rr1
}

test_server_restart_while_pairs_are_written() {
    cfg=$(fault_config fault-restart-write t_restart_write demo.images)
    pp migrate "$cfg"; expect_status 0
    hold_inserts t_restart_write
    pp_start run "$cfg" --run-id rw1
    wait_for "$(active_in fault-restart-write "$WRITING")"
    restart_server
    pp_wait
    release_inserts t_restart_write
    expect_status 75
    expect_grep_i "connection|terminat|shut" "$WORK/err"
    expect_grep "insert pairs" "$WORK/err"
    expect_nothing_written t_restart_write rw1
    expect_rerun_succeeds "$cfg" t_restart_write rw1
}

test_backend_terminated_while_rows_stream() {
    cfg=$(fault_config fault-kill-read t_kill_read)
    pp migrate "$cfg"; expect_status 0
    set_pace 0.005
    pp_start run "$cfg" --run-id kr1
    wait_for "$(active_in fault-kill-read "$STREAMING")"
    note_fault terminate
    sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE application_name LIKE 'pairpick/fault-kill-read%'" >/dev/null
    pp_wait
    set_pace 0
    expect_status 75
    expect_grep "terminating connection due to administrator command" "$WORK/err"
    expect_nothing_written t_kill_read kr1
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'kr1'")" failed \
        "the run is recorded failed (on a new connection)"
    expect_rerun_succeeds "$cfg" t_kill_read kr1
}

test_backend_terminated_while_pairs_are_written() {
    cfg=$(fault_config fault-kill-write t_kill_write demo.images)
    pp migrate "$cfg"; expect_status 0
    hold_inserts t_kill_write
    pp_start run "$cfg" --run-id kw1
    wait_for "$(active_in fault-kill-write "$WRITING")"
    note_fault terminate
    sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE application_name LIKE 'pairpick/fault-kill-write%'" >/dev/null
    pp_wait
    release_inserts t_kill_write
    expect_status 75
    expect_grep "terminating connection due to administrator command" "$WORK/err"
    expect_nothing_written t_kill_write kw1
    expect_rerun_succeeds "$cfg" t_kill_write kw1
}

test_statement_timeout_exits_75() {
    cfg=$(fault_config fault-timeout t_timeout slow_images 'database:
  statement_timeout: 100ms')
    pp migrate "$cfg"; expect_status 0
    set_pace 0.005
    note_fault statement_timeout
    pp run "$cfg" --run-id to1
    set_pace 0
    expect_status 75
    expect_grep "canceling statement due to statement timeout" "$WORK/err"
    expect_eq "$(json_field status)" failed "status"
    expect_nothing_written t_timeout to1
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'to1'")" failed "run record"
    # the source is fast again: the same config, timeout and all, succeeds
    expect_rerun_succeeds "$cfg" t_timeout to1
}

# A signal in the middle of a long k-means (200 clusters, 50 Lloyd restarts on
# 18,000 x 768 embeddings: minutes to the end) stops the run within moments:
# the fit polls the cancel flag, the run rolls back, is recorded failed and
# exits 75 with nothing written. The target is 0.5 s; the bound is 2 s on a
# loaded machine (the watchdog alone would end the process after 10 s, with
# the run left running).
cancel_during_kmeans() { # signal run-id
    local signal=$1 run_id=$2 cfg guard started elapsed_ms
    cfg=$(write_config fault-cancel-kmeans <<'YAML'
job: fault-cancel-kmeans
source:
  query: "SELECT i.job_uuid::text || '/' || n AS id, i.score, i.clip_embedding FROM demo.images AS i, generate_series(1, 12) AS n"
  id: id
  score: score
  embedding: clip_embedding
strategy:
  by: embedding
  clusters: 200
  kmeans: {algorithm: lloyd, n_init: 50, max_iter: 300, tolerance: 0}
  max_pairs: 120
  seed: 5
output:
  table: t_cancel_kmeans
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp_start run "$cfg" --run-id "$run_id" --verbose
    ( sleep 120; kill -KILL "$PP_PID" 2>/dev/null ) &
    guard=$!
    # the read stage's last line: categorize (k-means) starts right after it
    for _ in $(seq 600); do
        grep -qE 'read [0-9]+ rows' "$WORK/err" && break
        kill -0 "$PP_PID" 2>/dev/null || break
        sleep 0.1
    done
    grep -qE 'read [0-9]+ rows' "$WORK/err" || { kill "$guard"; fail "the read never ended"; }
    sleep 1 # well into the fit
    note_fault "$signal in k-means"
    started=$(date +%s%N)
    kill "-$signal" "$PP_PID"
    pp_wait
    elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
    kill "$guard" 2>/dev/null || true
    echo "    SIG$signal during k-means: exit $STATUS ${elapsed_ms} ms after the signal"
    expect_status 75
    [ "$elapsed_ms" -lt 2000 ] || fail "stopped ${elapsed_ms} ms after SIG$signal (bound 2000 ms)"
    expect_eq "$(json_field status)" failed "status in the JSON"
    expect_eq "$(sql "SELECT status || ': ' || error FROM pairpick_runs WHERE run_id = '$run_id'")" \
        "failed: cancelled by signal $(kill -l "$signal")" "run record"
    expect_eq "$(sql "SELECT count(*) FROM t_cancel_kmeans")" 0 "pairs stored"
}

test_sigterm_during_kmeans_stops_the_run_at_once() {
    cancel_during_kmeans TERM ck-term
}

test_sighup_during_kmeans_stops_the_run_at_once() {
    cancel_during_kmeans HUP ck-hup
}

# A signal that is blocked and pending when the process starts (a parent's
# mask survives exec) is delivered once the handlers exist: exit 75, never
# the signal's default death. The test makes it deterministic: the SIGTERM
# is already pending (blocked) when pairpick starts.
test_signal_pending_at_start_is_handled_not_fatal() {
    local signal
    cfg=$(write_config fault-early <<YAML
job: fault-early
database:
  conninfo: "host=$WORK/nowhere port=1"
  connect_retries: 8
source:
  table: demo.images
  id: job_uuid
  score: score
strategy:
  by: score
YAML
)
    for signal in TERM HUP; do
        set +e
        timeout 60 /usr/bin/python3 -c '
import os, signal, sys
sig = getattr(signal, "SIG" + sys.argv[1])
signal.pthread_sigmask(signal.SIG_BLOCK, [sig])
os.kill(os.getpid(), sig)
os.execv(sys.argv[2], sys.argv[2:])' "$signal" "$PAIRPICK" run "$cfg" >"$WORK/out" 2>"$WORK/err"
        STATUS=$?
        set -e
        expect_status 75
        expect_grep "cancelled" "$WORK/err"
    done
}

# The process's address space (KiB) while it streams a score-only job:
# startup, libraries (OpenBLAS's thread buffers) and libpq, but no data yet.
baseline_address_space() {
    local cfg
    cfg=$(fault_config fault-baseline t_baseline)
    pp migrate "$cfg" >/dev/null
    set_pace 0.005
    pp_start run "$cfg" --dry-run
    wait_for "$(active_in fault-baseline "$STREAMING")" >/dev/null
    BASELINE_KB=$(awk '/^VmSize:/ {print $2}' "/proc/$PP_PID/status")
    sql "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
          WHERE application_name LIKE 'pairpick/fault-baseline%'" >/dev/null
    pp_wait
    set_pace 0
}

test_memory_exhausted_fails_cleanly() {
    skip_if_sanitized "an AddressSanitizer build reserves its shadow memory, ulimit -v cannot apply"
    # 12 copies of the demo images: 18000 rows x 768 floats = 55 MB of embeddings.
    cfg=$(write_config fault-memory <<'YAML'
job: fault-memory
source:
  query: "SELECT i.job_uuid::text || '/' || n AS id, i.score, i.clip_embedding FROM demo.images AS i, generate_series(1, 12) AS n"
  id: id
  score: score
  embedding: clip_embedding
strategy:
  by: embedding
  clusters: 20
  kmeans: {n_init: 1, max_iter: 10}
  max_pairs: 120
  seed: 5
output:
  table: t_memory
YAML
)
    pp migrate "$cfg"; expect_status 0
    baseline_address_space
    [ "${BASELINE_KB:-0}" -gt 0 ] || fail "could not measure the address space of a run"
    echo "    address space of a run before its data: $((BASELINE_KB / 1024)) MiB"
    # From too little room for the embeddings up to room for everything:
    # every run ends (within 30 s; a run here takes 2) in success or a documented failure
    # that says memory ran out, never in a signal or a hang.
    local failures=0 extra
    for extra in 16 48 96 160 240 400; do
        note_fault "ulimit -v"
        set +e
        ( ulimit -v $((BASELINE_KB + extra * 1024)) &&
              exec timeout -s KILL 30 "$PAIRPICK" run "$cfg" --run-id mem1 ) >"$WORK/out" 2>"$WORK/err"
        STATUS=$?
        set -e
        echo "    limit +${extra} MiB: exit $STATUS"
        case $STATUS in
            0) ;;
            70 | 75)
                failures=$((failures + 1))
                expect_grep_i "memory" "$WORK/err"
                expect_eq "$(json_field status)" failed "status"
                expect_nothing_written t_memory mem1
                expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'mem1'")" failed \
                    "run record of a run out of memory"
                ;;
            137) fail "killed after 30 s under ulimit -v: the run hung when memory ran out" ;;
            *) fail "exit $STATUS under ulimit -v (a crash, or an undocumented code)" ;;
        esac
        if [ "$STATUS" -eq 0 ]; then
            sql "DELETE FROM t_memory; DELETE FROM pairpick_runs WHERE job = 'fault-memory'" >/dev/null
        fi
    done
    [ "$failures" -gt 0 ] || fail "no memory limit made the run fail: the test limits are too loose"
    # no limit: the same run id succeeds
    pp run "$cfg" --run-id mem1; expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_memory")" 120 "pairs without a limit"
}

# Threads the process starts after its last execve (strace -f: clones with
# CLONE_THREAD after the last execve), for the command given.
threads_after_exec() { # pairpick arguments...
    strace -f -qq -e trace=execve,clone,clone3 -o "$WORK/strace" "$PAIRPICK" "$@" \
        >"$WORK/out" 2>"$WORK/err"
    STATUS=$?
    awk '/execve\(/ {n = 0} /clone3?\(.*CLONE_THREAD/ {n++} END {print n + 0}' "$WORK/strace"
}

# OpenBLAS's pool starts at the first k-means, not at the start of every run:
# an idle pool thread busy-waits in sched_yield for about 0.1 s, CPU that a
# score run's read needs beside the server's backend (on 2 cores it was 17%
# of a 1,000,000-row score run's samples). A score run starts no thread; an
# embedding run on a machine with 2 usable CPUs starts the pool for k-means.
test_blas_pool_starts_only_for_kmeans() {
    skip_without_strace
    skip_if_sanitized "LeakSanitizer aborts a process traced with ptrace (strace)"
    [ "$(nproc)" -ge 2 ] || skip "one usable CPU: OpenBLAS starts no pool at all"
    local score embedding threads
    score=$(fault_config fault-blas-score t_blas_score demo.images)
    embedding=$(embedding_config fault-blas-embedding t_blas_embedding "kmeans: {algorithm: lloyd}")
    pp migrate "$score"; expect_status 0
    pp migrate "$embedding"; expect_status 0
    threads=$(threads_after_exec run "$score" --run-id blas-score)
    expect_status 0
    expect_eq "$threads" 0 "threads started by a score run"
    threads=$(threads_after_exec run "$embedding" --run-id blas-embedding)
    expect_status 0
    [ "$threads" -ge 1 ] || fail "an embedding run started no BLAS thread for k-means ($threads)"
    echo "    score run: 0 threads; embedding run: $threads"
}

# OpenBLAS is loaded by the first k-means, not when the process starts: with
# a libopenblas.so.0 the loader cannot use found first (LD_LIBRARY_PATH), an
# embedding run exits 69 with the loader's reason and writes nothing, while
# a score run, which never loads it, succeeds. Linked in, neither could
# start (exit 127 from the loader).
test_openblas_loaded_only_by_embedding_runs() {
    local score embedding
    score=$(fault_config fault-noblas-score t_noblas_score demo.images)
    embedding=$(embedding_config fault-noblas-embedding t_noblas_embedding)
    pp migrate "$score"; expect_status 0
    pp migrate "$embedding"; expect_status 0
    mkdir -p "$WORK/noblas"
    printf 'not a library\n' >"$WORK/noblas/libopenblas.so.0"
    LD_LIBRARY_PATH=$WORK/noblas pp run "$embedding" --run-id noblas
    expect_status 69
    expect_grep "cannot load OpenBLAS" "$WORK/err"
    expect_grep "libopenblas.so.0" "$WORK/err"
    expect_eq "$(json_field status)" failed "status"
    expect_nothing_written t_noblas_embedding noblas
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'noblas'")" failed \
        "run record of a run without OpenBLAS"
    LD_LIBRARY_PATH=$WORK/noblas pp run "$score" --run-id noblas-score
    expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_noblas_score")" 120 "pairs of a score run"
    # The same embedding run id, with the library back, succeeds.
    pp run "$embedding" --run-id noblas
    expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_noblas_embedding")" 40 "pairs once OpenBLAS loads"
}

# The workers of a parallel read connect on their own threads while the
# main connection settles the plan. A worker the server refuses (a role
# allowed one connection) fails the run as the main connection would: exit
# 69 with the server's reason, the run record failed, nothing written; the
# same run id succeeds once the role may open them.
test_worker_connection_refused_fails_the_run() {
    local cfg
    cfg=$(embedding_config fault-workers t_workers)
    printf 'resources:\n  workers: 3\ndatabase:\n  connect_retries: 0\n' >>"$cfg"
    pp migrate "$cfg"; expect_status 0
    psql -X -q -v role=pp_one_conn -v source=demo.images -v output=t_workers \
        -f "$ROOT/sql/roles/least_privilege.sql" >/dev/null
    sql "ALTER ROLE pp_one_conn CONNECTION LIMIT 1" >/dev/null
    note_fault "worker connections refused"
    PGUSER=pp_one_conn pp run "$cfg" --run-id limited
    expect_status 69
    expect_grep "too many connections for role" "$WORK/err"
    expect_eq "$(json_field status)" failed "status"
    expect_nothing_written t_workers limited
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'limited'")" failed \
        "run record of a run whose workers were refused"
    # Room for one worker of three: the others refused, the run fails the same way.
    sql "ALTER ROLE pp_one_conn CONNECTION LIMIT 2" >/dev/null
    PGUSER=pp_one_conn pp run "$cfg" --run-id limited
    expect_status 69
    expect_grep "too many connections for role" "$WORK/err"
    expect_nothing_written t_workers limited
    sql "ALTER ROLE pp_one_conn CONNECTION LIMIT 4" >/dev/null
    PGUSER=pp_one_conn pp run "$cfg" --run-id limited
    expect_status 0
    expect_eq "$(sql "SELECT count(*) FROM t_workers")" 40 "pairs once the workers may connect"
}

# ---- hostile names ------------------------------------------------------

# A small address-space limit never hangs the process (OpenBLAS started a
# thread pool at load and exit() waited on a thread that could not start):
# every try ends within 10 s with a documented status: 0, 70 or 75 from
# pairpick; 127 when the loader cannot map the libraries, 130 when OpenBLAS
# cannot start a thread before main (docs/pairpick.1, EXIT STATUS).
test_small_address_space_limits_never_hang() {
    skip_if_sanitized "an AddressSanitizer build reserves its shadow memory, ulimit -v cannot apply"
    cfg=$(fault_config fault-vmem t_vmem demo_small)
    sql "CREATE TABLE IF NOT EXISTS demo_small AS SELECT * FROM demo.images LIMIT 200" >/dev/null
    pp migrate "$cfg"; expect_status 0
    local mb command started elapsed_ms
    for mb in 40 60 70 80 90 100 120 150 200; do
        for command in "--version" "check $cfg" "run $cfg --dry-run"; do
            started=$(date +%s%N)
            set +e
            # shellcheck disable=SC2086
            ( ulimit -v $((mb * 1024)) && exec timeout -s KILL 10 "$PAIRPICK" $command ) \
                >"$WORK/out" 2>"$WORK/err"
            STATUS=$?
            set -e
            elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
            case $STATUS in
                0 | 70 | 75 | 127 | 130) ;;
                137) fail "ulimit -v ${mb} MB, $command: killed after 10 s (a hang)" ;;
                *) fail "ulimit -v ${mb} MB, $command: exit $STATUS, not a documented status" ;;
            esac
            echo "    ulimit -v ${mb} MB, ${command%% *}: exit $STATUS in ${elapsed_ms} ms"
        done
    done
}

test_hostile_identifiers_are_quoted_never_executed() {
    sql "CREATE SCHEMA \"wéird schema; DROP SCHEMA demo CASCADE; --\";
         CREATE TABLE \"wéird schema; DROP SCHEMA demo CASCADE; --\".\"imäges 🖼 'x'\" (
             \"id\"\"; DROP TABLE pairpick_runs; --\" text,
             \"scöre (%s) \$1\" float8,
             \"cat'); DELETE FROM demo.images; --\" text);
         INSERT INTO \"wéird schema; DROP SCHEMA demo CASCADE; --\".\"imäges 🖼 'x'\"
         SELECT 'img ' || i || ' ''\";--', i % 9, 'topic ' || (i % 3) FROM generate_series(1, 60) AS i;" >/dev/null
    before=$(sql "SELECT count(*) FROM demo.images")
    cfg=$(write_config hostile-names <<'YAML'
job: hostile-names
source:
  table: '"wéird schema; DROP SCHEMA demo CASCADE; --"."imäges 🖼 ''x''"'
  id: 'id"; DROP TABLE pairpick_runs; --'
  score: "scöre (%s) $$1"
  category: "cat'); DELETE FROM demo.images; --"
filters:
  score: {min: 1, max: 7}
strategy:
  by: category
  max_pairs: 30
output:
  table: '"wéird schema; DROP SCHEMA demo CASCADE; --"."pairs; DROP TABLE demo.images"'
YAML
)
    pp check "$cfg"; expect_status 0
    pp migrate "$cfg"; expect_status 0
    pp check "$cfg" --db; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 30 "pairs"
    expect_eq "$(sql "SELECT count(*) FROM \"wéird schema; DROP SCHEMA demo CASCADE; --\".\"pairs; DROP TABLE demo.images\"
                       WHERE category LIKE 'topic %' AND image_a LIKE 'img %'")" 30 "pairs stored with their odd ids"
    expect_eq "$(sql "SELECT to_regclass('demo.images') IS NOT NULL AND to_regclass('pairpick_runs') IS NOT NULL")" t "tables intact"
    expect_eq "$(sql "SELECT count(*) FROM demo.images")" "$before" "rows intact"
    # filter values are parameters: the SQL text holds $n, never the numbers
    pp explain "$cfg"; expect_status 0
    grep -v '^--' "$WORK/out" | grep -q '\$1' || fail "explain shows no \$1"
    ! grep -v '^--' "$WORK/out" | grep -qE '(>=|<=|[<>=]) *[17]([^0-9]|$)' || fail "a filter value inside the SQL text"
}

# ---- bad data -----------------------------------------------------------

make_bad_data() {
    sql "SET client_min_messages = warning;
         CREATE TABLE IF NOT EXISTS bad_data (id text, score float8, topic text);
         TRUNCATE bad_data;
         INSERT INTO bad_data VALUES
           (NULL, 1.0, 'a'), (NULL, 2.0, 'a'),
           ('dup', 1.5, 'a'), ('dup', 1.6, 'b'), ('dup', 1.7, 'a'),
           ('nan', 'NaN', 'a'), ('inf', 'Infinity', 'a'), ('-inf', '-Infinity', 'b'),
           ('null-score', NULL, 'a'), ('null-topic', 2.5, NULL);
         INSERT INTO bad_data SELECT 'ok-' || i, (i % 10) / 3.0, CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END
           FROM generate_series(1, 40) AS i;" >/dev/null
}

bad_data_config() { # job table strategy-yaml [source]
    write_config "$1" <<YAML
job: $1
source:
  ${4:-table: bad_data}
  id: id
  score: score
  category: topic
$3
output:
  table: $2
YAML
}

test_null_duplicate_ids_and_nonfinite_scores_are_skipped() {
    make_bad_data
    cfg=$(bad_data_config bad-scores t_bad_scores 'strategy: {by: score, bins: 3, max_pairs: 1000000, seed: 1}')
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(json_field rows_read)" 50 "rows read"
    # 2 NULL ids, 2 duplicates of "dup", NaN, +-Inf, NULL score
    expect_eq "$(json_field rows_skipped)" 8 "rows skipped"
    expect_grep "null_id 2" "$WORK/err"
    expect_grep "duplicate_id 2" "$WORK/err"
    expect_grep "nonfinite_score 3" "$WORK/err"
    expect_grep "null_score 1" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM t_bad_scores WHERE image_a = image_b")" 0 "self pairs"
    expect_eq "$(sql "SELECT count(*) FROM t_bad_scores WHERE image_a IN ('nan', 'inf', '-inf', 'null-score')
                       OR image_b IN ('nan', 'inf', '-inf', 'null-score') OR image_a IS NULL OR image_b IS NULL
                       OR score_a = 'NaN' OR score_b = 'NaN'")" 0 "pairs with unusable images"
    # the duplicate counts once: one image, its first row's score
    expect_eq "$(sql "SELECT count(DISTINCT s) FROM (SELECT score_a s FROM t_bad_scores WHERE image_a = 'dup'
                       UNION ALL SELECT score_b FROM t_bad_scores WHERE image_b = 'dup') d")" 1 "scores of the duplicate id"
    expect_eq "$(json_field candidates)" 42 "candidates (40 + dup + null-topic)"
}

test_score_filter_drops_unscored_images_for_any_strategy() {
    make_bad_data
    cfg=$(bad_data_config unscored t_unscored 'filters:
  score: {min: 0}
strategy: {by: category, max_pairs: 1000000}')
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    # NULL and NaN scores do not meet "score >= 0"; -Infinity neither
    expect_eq "$(sql "SELECT count(*) FROM t_unscored WHERE 'null-score' IN (image_a, image_b)
                       OR 'nan' IN (image_a, image_b) OR '-inf' IN (image_a, image_b)")" 0 "unscored images paired"
    expect_eq "$(json_field candidates)" 42 "candidates (40 + dup + inf)"
}

test_null_category_is_skipped() {
    make_bad_data
    cfg=$(bad_data_config bad-cats t_bad_cats 'strategy: {by: category, max_pairs: 1000000}')
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_grep "null_category 1" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM t_bad_cats WHERE 'null-topic' IN (image_a, image_b)")" 0 "NULL category paired"
    expect_eq "$(sql "SELECT count(DISTINCT category) FROM t_bad_cats")" 2 "categories"
}

test_all_scores_equal() {
    sql "CREATE TABLE flat AS SELECT 'f' || i AS id, 2.5::float8 AS score, 'x' AS topic FROM generate_series(1, 30) AS i" >/dev/null
    for binning in quantile fixed; do
        cfg=$(bad_data_config "flat-$binning" "t_flat_$binning" "strategy: {by: score, bins: 10, binning: $binning, max_pairs: 100}" 'table: flat')
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg"; expect_status 0
        # quantile: ties are never split, so one bin; fixed: `bins` bins, all in the first
        expect_eq "$(json_field categories)" "$([ $binning = quantile ] && echo 1 || echo 10)" "$binning: bins"
        expect_eq "$(json_field pairs_inserted)" 100 "$binning: pairs"
        expect_eq "$(sql "SELECT count(DISTINCT category) FROM t_flat_$binning")" 1 "$binning: pairs all in one bin"
    done
}

test_zero_rows_after_filtering_records_an_empty_run() {
    make_bad_data
    for strategy in '{by: score, max_pairs: 10}' '{by: category, max_pairs: 10}'; do
        table=t_zero_$(echo "$strategy" | cut -d' ' -f2 | tr -d ,)
        # outside every score, NaN and the infinities included
        cfg=$(bad_data_config zero-rows "$table" "filters:
  score: {min: 1000, max: 2000}
strategy: $strategy")
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --run-id "zero $strategy"; expect_status 0
        expect_eq "$(json_field status)" succeeded "$strategy: status"
        expect_eq "$(json_field candidates)" 0 "$strategy: candidates"
        expect_eq "$(json_field pairs_inserted)" 0 "$strategy: pairs"
        expect_eq "$(sql "SELECT status || ' ' || pairs_inserted FROM pairpick_runs
                          WHERE job = 'zero-rows' AND run_id = 'zero $strategy'")" "succeeded 0" "$strategy: run record"
    done
}

test_zero_rows_for_embeddings_records_an_empty_run() {
    cfg=$(write_config zero-emb <<'YAML'
job: zero-emb
source:
  table: demo.images
  id: job_uuid
  score: score
  embedding: clip_embedding
filters:
  score: {min: 1000}
strategy:
  by: embedding
  clusters: 5
  max_pairs: 10
output:
  table: t_zero_emb
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id empty; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 0 "pairs"
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE job = 'zero-emb'")" succeeded "run record"
}

test_one_row() {
    sql "CREATE TABLE one_row AS SELECT 'only' AS id, 1.0::float8 AS score, 'x' AS topic" >/dev/null
    for strategy in '{by: score, max_pairs: 10}' '{by: category, max_pairs: 10}'; do
        table=t_one_$(echo "$strategy" | cut -d' ' -f2 | tr -d ,)
        cfg=$(bad_data_config one-row "$table" "strategy: $strategy" 'table: one_row')
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg"; expect_status 0
        expect_eq "$(json_field candidates)" 1 "$strategy: candidates"
        expect_eq "$(json_field pairs_inserted)" 0 "$strategy: pairs"
    done
}

test_categories_of_one_image() {
    # 20 topics of one image each, and one topic of 4: only that one can pair (6 pairs)
    sql "CREATE TABLE singles AS SELECT 's' || i AS id, i::float8 AS score, 'alone ' || i AS topic
           FROM generate_series(1, 20) AS i
         UNION ALL SELECT 'g' || i, i, 'group' FROM generate_series(1, 4) AS i" >/dev/null
    cfg=$(bad_data_config singles t_singles 'strategy: {by: category, max_pairs: 100}' 'table: singles')
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg"; expect_status 0
    expect_eq "$(json_field categories)" 21 "categories"
    expect_eq "$(json_field pairs_inserted)" 6 "pairs (all of the one group)"
    expect_eq "$(sql "SELECT count(*) FROM t_singles WHERE category <> 'group'")" 0 "pairs outside the group"
    # every topic a single image: nothing to pair, still a clean run
    sql "DELETE FROM singles WHERE topic = 'group'" >/dev/null
    pp run "$cfg" --run-id nothing; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 0 "pairs"
}

# A trigger of the output table that drops some rows is the table's rule,
# not another job's pairs: the run stores what the table takes, succeeds,
# and says how many it lost.
test_trigger_that_skips_rows_gives_a_short_successful_run() {
    cfg=$(fault_config skip-a t_skip demo.images)
    pp migrate "$cfg"; expect_status 0
    sql "CREATE FUNCTION t_skip_some() RETURNS trigger LANGUAGE plpgsql AS
         \$\$ BEGIN IF NEW.image_a < '4' THEN RETURN NULL; END IF; RETURN NEW; END \$\$;
         CREATE TRIGGER skip_some BEFORE INSERT ON t_skip FOR EACH ROW
         EXECUTE FUNCTION t_skip_some();" >/dev/null
    pp run "$cfg" --run-id skip1; expect_status 0
    stored=$(sql "SELECT count(*) FROM t_skip")
    [ "$stored" -gt 0 ] && [ "$stored" -lt 120 ] || fail "stored $stored of 120 pairs"
    expect_eq "$(json_field pairs_inserted)" "$stored" "pairs_inserted"
    expect_eq "$(sql "SELECT status || ' ' || pairs_chosen || ' ' || pairs_inserted FROM pairpick_runs
                      WHERE run_id = 'skip1'")" "succeeded 120 $stored" "run record"
    expect_grep "the output table took $stored of the 120 pairs chosen (choice 1 of 32)" "$WORK/err"
}

# ---- load ---------------------------------------------------------------

test_sixteen_jobs_at_once_share_one_table() {
    local pids=() job
    for job in $(seq 1 16); do
        # overlapping score windows over the same images, one shared table;
        # the default policy (informative): every job wants the same best
        # pairs of the overlap, so runs choose again up to once per other job
        write_config "load-$job" >/dev/null <<YAML
job: load-$job
source:
  table: demo.images
  id: job_uuid
  score: score
filters:
  score: {min: $(awk -v j="$job" 'BEGIN { printf "%.3f", (j - 1) / 8 }'), max: $(awk -v j="$job" 'BEGIN { printf "%.3f", 2.5 + j / 8 }')}
strategy:
  by: score
  bins: 4
  max_pairs: 400
  seed: $job
output:
  table: t_load
YAML
    done
    pp migrate "$WORK/load-1.yaml"; expect_status 0
    for job in $(seq 1 16); do
        "$PAIRPICK" run "$WORK/load-$job.yaml" --run-id "load" >"$WORK/load-$job.out" 2>"$WORK/load-$job.err" &
        pids+=($!)
    done
    local failed=0
    for job in $(seq 1 16); do
        if ! wait "${pids[$((job - 1))]}"; then
            failed=$((failed + 1))
            echo "    load-$job failed:" >&2
            sed 's/^/    | /' "$WORK/load-$job.err" >&2
        fi
    done
    [ "$failed" -eq 0 ] || fail "$failed of 16 concurrent jobs failed"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE job LIKE 'load-%' AND status = 'succeeded'")" 16 "runs succeeded"
    expect_eq "$(sql "SELECT count(*) - count(DISTINCT (least(image_a, image_b), greatest(image_a, image_b))) FROM t_load")" 0 "pairs stored twice"
    expect_eq "$(sql "SELECT sum(pairs_inserted) FROM pairpick_runs WHERE job LIKE 'load-%'")" \
        "$(sql "SELECT count(*) FROM t_load")" "pairs_inserted of the runs against rows in the table"
    expect_eq "$(sql "SELECT count(*) FROM t_load l JOIN pairpick_runs r ON r.job = l.job AND r.run_id = l.run_id
                       GROUP BY () HAVING bool_and(r.status = 'succeeded')")" "$(sql "SELECT count(*) FROM t_load")" "every row belongs to a succeeded run"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE job LIKE 'load-%'
                       AND pairs_chosen = 400 AND pairs_inserted = 400")" 16 "runs that stored their 400 pairs"
    echo "    $(sql "SELECT count(*) FROM t_load") pairs from 16 jobs; $(cat "$WORK"/load-*.err | grep -c 'choosing again' || true) choices made again after another job stored some of the pairs, at most $(cat "$WORK"/load-*.err | grep -o 'choice [0-9]* of' | awk '{print $2}' | sort -n | tail -1) by one run"
}

start_server_with_demo 1500
make_slow_source
set +e
run_tests "$@"
status=$?
set -e
echo "faults injected: $(cat "$WORK/faults" 2>/dev/null | wc -l)"
exit "$status"
