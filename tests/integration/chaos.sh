#!/usr/bin/env bash
# A randomised fault suite against a real throwaway PostgreSQL: many trials,
# each one run of a score or an embedding job with one fault at a random
# moment (kill -9, an immediate, fast or idle-moment server restart,
# pg_terminate_backend, a small statement_timeout, a full disk under a side
# file, SIGHUP, SIGTERM, a closed stdout or stderr pipe), then the same run
# id run again without the fault until it succeeds. After every trial:
# the run's pairs are all of its budget or none (never a partial write,
# never a pair twice), no run is left `running` once its process is gone
# (a kill -9 leaves its record to the next run, which takes it over), no
# exit 70, only the exit codes the fault can explain, and the retry ends
# with exactly min(max_pairs, pairs available) pairs under the run id.
# Closes with the counts per fault kind and the totals.
#
#   tests/integration/chaos.sh                      CHAOS_TRIALS trials (default 6)
#   CHAOS_TRIALS=200 nice -n 5 tests/integration/chaos.sh
#   CHAOS_SEED=1234 CHAOS_TRIALS=200 tests/integration/chaos.sh     replays a run
#   CHAOS_KINDS="kill9 restart_idle" tests/integration/chaos.sh     only these kinds
#
# The seed is printed first; the same seed makes the same choices (kinds,
# jobs, delays, free space), though where a delay lands in a run depends on
# the machine's speed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
CHAOS_TRIALS=${CHAOS_TRIALS:-6}
CHAOS_SEED=${CHAOS_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
ALL_KINDS="kill9 restart_immediate restart_fast restart_idle terminate statement_timeout disk_full sighup sigterm sigpipe"
CHAOS_KINDS=${CHAOS_KINDS:-$ALL_KINDS}
BUDGET=1000
# Copies of the 1500 demo images in the source: a run long enough that a
# random moment falls in each stage (connect, read, k-means, choose, write).
COPIES=${CHAOS_COPIES:-4}
# A run that does not end within this many seconds is a hang.
HANG_SECONDS=120

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_ctl restart in the given mode (immediate: no shutdown checkpoint, crash
# recovery on start; fast: backends terminated, a checkpoint). The options
# of the last start (postmaster.opts) are kept, socket and all.
pg_restart() { # immediate|fast
    as_owner "$PGBIN/pg_ctl" -D "$PAIRPICK_PGDIR/data" -l "$PAIRPICK_PGDIR/server.log" \
        -m "$1" -w -t 60 restart >/dev/null
}

# sql, retried while the server restarts or recovers (up to about 30 s).
sqlr() {
    local _
    for _ in $(seq 150); do
        psql -X -At -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    sql "$1"
}

# R: a random integer in [0, n), from bash's RANDOM (seeded with CHAOS_SEED).
# Sets a variable rather than printing: a command substitution is a subshell,
# whose draws would not advance this shell's sequence.
rand() { # n
    R=$(((RANDOM * 32768 + RANDOM) % $1))
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A job over chaos_src: "score" (bins of the score) or "emb" (k-means on the
# embeddings: the connection sits idle while it clusters).
job_config() { # workload name [extra top-level yaml]
    local strategy
    if [ "$1" = score ]; then
        strategy="strategy: {by: score, bins: 10, max_pairs: $BUDGET, seed: 7}"
    else
        strategy="strategy:
  by: embedding
  clusters: 20
  kmeans: {n_init: 1, max_iter: 30}
  max_pairs: $BUDGET
  seed: 7"
    fi
    write_config "$2" <<YAML
job: chaos-$1
${3:-}
source:
  table: chaos_src
  id: id
  score: score
  embedding: emb
$strategy
output:
  table: t_chaos_$1
YAML
}

job_backends() { # workload: sessions of the job (and its stream workers)
    sqlr "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pairpick/chaos-$1%'"
}

# Waits until the job has no session left: a backend of a killed process
# still holds the job's lock and an open transaction until it notices.
wait_backends_gone() { # workload
    local _
    for _ in $(seq 300); do
        [ "$(job_backends "$1")" = 0 ] && return 0
        sleep 0.1
    done
    echo "    sessions of chaos-$1 still open after 30 s" >&2
    return 1
}

# Starts pairpick in the background; stdout and stderr in $WORK/out, $WORK/err.
pp_start() {
    "$PAIRPICK" "$@" >"$WORK/out" 2>"$WORK/err" &
    PP_PID=$!
}

# Waits for the background pairpick, up to HANG_SECONDS (then kill -9 and
# status "hang"); its exit status in $STATUS.
pp_wait() {
    local _
    for _ in $(seq $((HANG_SECONDS * 10))); do
        kill -0 "$PP_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$PP_PID" 2>/dev/null; then
        kill -9 "$PP_PID" 2>/dev/null || true
        wait "$PP_PID" 2>/dev/null || true
        STATUS=hang
        return 0
    fi
    set +e
    wait "$PP_PID" 2>/dev/null # without the shell's "Killed" line
    STATUS=$?
    set -e
}

alive() { kill -0 "$PP_PID" 2>/dev/null; }

sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# A small tmpfs for the side files (root), filled to leave a chosen amount of
# room; elsewhere RLIMIT_FSIZE makes writes past the limit fail (EFBIG), as
# a full disk would (ENOSPC).
FULL_DIR=""
mount_full_disk() {
    mkdir -p "$WORK/full"
    if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=512k,mode=0777 chaos-full "$WORK/full" 2>/dev/null; then
        FULL_DIR=$WORK/full
    fi
}
unmount_full_disk() {
    if [ -n "$FULL_DIR" ]; then
        umount "$FULL_DIR" 2>/dev/null || true
        FULL_DIR=""
    fi
}

# ---- one trial ------------------------------------------------------------

# Runs pairpick once under the fault; sets STATUS and LANDED (1 when the
# fault hit the process while it ran, 0 when the run ended first).
inject() { # kind workload config run-id delay-ms
    local kind=$1 workload=$2 cfg=$3 id=$4 delay=$5
    LANDED=0
    case $kind in
        kill9 | sighup | sigterm)
            local signal
            case $kind in kill9) signal=KILL ;; sighup) signal=HUP ;; sigterm) signal=TERM ;; esac
            pp_start run "$cfg" --run-id "$id"
            sleep_ms "$delay"
            kill -s "$signal" "$PP_PID" 2>/dev/null && LANDED=1
            pp_wait
            ;;
        restart_immediate | restart_fast)
            pp_start run "$cfg" --run-id "$id"
            sleep_ms "$delay"
            if alive; then
                LANDED=1
                pg_restart "${kind#restart_}"
            fi
            pp_wait
            ;;
        restart_idle)
            # the connection idle for 0.2 s (k-means), then the random delay
            pp_start run "$cfg" --run-id "$id"
            while alive; do
                if [ "$(sqlr "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pairpick/chaos-$workload%'
                                AND state LIKE 'idle%' AND state_change < clock_timestamp() - interval '0.2 s'")" != 0 ]; then
                    sleep_ms "$delay"
                    if alive; then
                        LANDED=1
                        pg_restart immediate
                    fi
                    break
                fi
                sleep 0.05
            done
            pp_wait
            ;;
        terminate)
            pp_start run "$cfg" --run-id "$id"
            sleep_ms "$delay"
            if alive && [ "$(sqlr "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                                     WHERE application_name LIKE 'pairpick/chaos-$workload%'")" != 0 ]; then
                LANDED=1
            fi
            pp_wait
            ;;
        statement_timeout)
            # $delay is the timeout: from 1 ms to about a run's length
            local timed
            timed=$(job_config "$workload" "timeout-$workload" "database:
  statement_timeout: ${delay}ms")
            pp_start run "$timed" --run-id "$id"
            pp_wait
            grep -q "statement timeout" "$WORK/err" && LANDED=1
            ;;
        disk_full)
            local options=(--xcom-file --metrics-file --rejects --labels-file) option side room
            rand 4; option=${options[$R]}
            side=$WORK/full/side.${option#--}
            # $delay is the room left, in KiB
            room=$delay
            if [ -n "$FULL_DIR" ]; then
                rm -rf "${FULL_DIR:?}"/*
                local free_kb
                free_kb=$(df -k --output=avail "$FULL_DIR" | tail -1 | tr -d ' ')
                if [ "$free_kb" -gt "$room" ]; then
                    dd if=/dev/zero of="$FULL_DIR/filler" bs=1k count=$((free_kb - room)) 2>/dev/null || true
                fi
                pp_start run "$cfg" --run-id "$id" "$option" "$side"
            else
                rm -f "$WORK/full"/side.*
                ( trap '' XFSZ; ulimit -f "$room"; exec "$PAIRPICK" run "$cfg" --run-id "$id" "$option" "$side" ) \
                    >"$WORK/out" 2>"$WORK/err" &
                PP_PID=$!
            fi
            pp_wait
            grep -qiE "no space|file too large|cannot write" "$WORK/err" && LANDED=1
            DISK_OPTION=$option
            # written whole or not at all: a failed write publishes nothing and leaves no temporary file
            if [ "$STATUS" = 0 ]; then
                [ -s "$side" ] || SIDE_BAD="exit 0 but $option not written"
            else
                [ ! -e "$side" ] || SIDE_BAD="exit $STATUS but $option published ($(wc -c <"$side") bytes)"
            fi
            local left
            for left in "$WORK"/full/*tmp*; do
                if [ -e "$left" ]; then SIDE_BAD="${SIDE_BAD:-} temporary file left: ${left##*/}"; fi
            done
            ;;
        sigpipe)
            # a reader that reads nothing and goes away after the delay
            local which
            rand 2
            set +e
            if [ "$R" = 0 ]; then
                which=stdout
                timeout -s KILL "$HANG_SECONDS" "$PAIRPICK" run "$cfg" --run-id "$id" --verbose \
                    2>"$WORK/err" | { sleep_ms "$delay"; }
                STATUS=${PIPESTATUS[0]}
            else
                which=stderr
                timeout -s KILL "$HANG_SECONDS" "$PAIRPICK" run "$cfg" --run-id "$id" --verbose \
                    2>&1 >"$WORK/out" | { sleep_ms "$delay"; }
                STATUS=${PIPESTATUS[0]}
            fi
            set -e
            [ "$STATUS" = 137 ] && STATUS=hang
            PIPE_WHICH=$which
            [ "$STATUS" = 74 ] && LANDED=1
            ;;
        *)
            echo "unknown fault kind $kind" >&2
            return 1
            ;;
    esac
    return 0
}

# Exit codes each fault can explain (besides 0: the run ended before it).
allowed_codes() { # kind
    case $1 in
        kill9) echo "0 137" ;;
        restart_* | terminate) echo "0 69 75" ;;
        statement_timeout) echo "0 75" ;;
        disk_full | sigpipe) echo "0 74" ;;
        sighup | sigterm) echo "0 75" ;;
    esac
}

# A SIGHUP or SIGTERM in the first milliseconds, before main() installs
# pairpick's handlers (the dynamic loader comes first), ends the process
# with the signal's default action: 129 or 143, no run record, no pairs,
# nothing on stderr. Counted in EARLY; any other unexplained code in UNEXPECTED
# (returns 1).
early_signal_or_unexpected() { # kind status workload run-id
    local signal_status
    case $1 in sighup) signal_status=129 ;; sigterm) signal_status=143 ;; *) signal_status=none ;; esac
    if [ "$2" = "$signal_status" ] && [ ! -s "$WORK/err" ] &&
        [ "$(sqlr "SELECT count(*) FROM pairpick_runs WHERE job = 'chaos-$3' AND run_id = '$4'")" = 0 ]; then
        EARLY=$((EARLY + 1))
        return 0
    fi
    UNEXPECTED=$((UNEXPECTED + 1))
    return 1
}

# The run id's pairs, its duplicates, and its record: "PAIRS DUPS STATUS".
run_state() { # workload run-id
    sqlr "SELECT (SELECT count(*) FROM t_chaos_$1 WHERE run_id = '$2') || ' ' ||
                 (SELECT count(*) - count(DISTINCT (least(image_a, image_b), greatest(image_a, image_b))) FROM t_chaos_$1) || ' ' ||
                 coalesce((SELECT string_agg(status, ',') FROM pairpick_runs WHERE job = 'chaos-$1' AND run_id = '$2'), 'none')"
}

test_random_faults() {
    RANDOM=$CHAOS_SEED
    read -r -a kinds <<<"$CHAOS_KINDS"
    local kind
    for kind in "${kinds[@]}"; do
        case " $ALL_KINDS " in *" $kind "*) ;; *) fail "unknown fault kind '$kind' (kinds: $ALL_KINDS)" ;; esac
    done
    echo "    chaos seed $CHAOS_SEED, $CHAOS_TRIALS trials (replay: CHAOS_SEED=$CHAOS_SEED CHAOS_TRIALS=$CHAOS_TRIALS $0)"

    # A clean run of each job: it works, and how long it takes (the range of the random moments).
    declare -A run_ms cfgs
    local workload started
    for workload in score emb; do
        cfgs[$workload]=$(job_config "$workload" "$workload")
        pp migrate "${cfgs[$workload]}"; expect_status 0
        # the write takes 0.3 s more, so that random moments fall inside it too
        sql "CREATE FUNCTION chaos_slow_$workload() RETURNS trigger LANGUAGE plpgsql AS
             \$\$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END \$\$;
             CREATE TRIGGER chaos_slow BEFORE INSERT ON t_chaos_$workload FOR EACH STATEMENT
             EXECUTE FUNCTION chaos_slow_$workload()" >/dev/null
        started=$(now_ms)
        pp run "${cfgs[$workload]}" --run-id "clean-$workload"; expect_status 0
        run_ms[$workload]=$(($(now_ms) - started))
        expect_eq "$(json_field pairs_inserted)" "$BUDGET" "$workload: pairs of a clean run"
        echo "    a clean $workload run: ${run_ms[$workload]} ms, $(json_field candidates) candidates"
    done

    declare -A trials landed codes
    EARLY=0 UNEXPECTED=0
    local partial=0 left_running=0 left_after_fault=0 exit70=0 side_bad=0 hangs=0
    local at_budget=0 retried=0 stale_after_kill=0 left_said=0 failures=""
    local i id delay max_ms pairs dups record expected retry_status retry_codes
    for i in $(seq 1 "$CHAOS_TRIALS"); do
        rand ${#kinds[@]}; kind=${kinds[$R]}
        rand 2; workload=$([ "$R" = 0 ] && echo score || echo emb)
        [ "$kind" = restart_idle ] && workload=emb
        id="chaos-$CHAOS_SEED-$i"
        max_ms=$((run_ms[$workload] * 13 / 10 + 1))
        case $kind in
            restart_idle) rand 500; delay=$R ;;
            statement_timeout) rand "$max_ms"; delay=$((R + 1)) ;;
            disk_full)
                # the room left: none, a little (the xcom, metrics or rejects
                # file may fit) or up to most of the labels file
                rand 3
                case $R in 0) delay=0 ;; 1) rand 16; delay=$R ;; 2) rand 400; delay=$R ;; esac
                ;;
            *)
                # a third of the moments in the first 300 ms (connect, register, the first rows)
                rand 3
                if [ "$R" = 0 ]; then rand 300; else rand "$max_ms"; fi
                delay=$R
                ;;
        esac
        sqlr "TRUNCATE t_chaos_$workload; DELETE FROM pairpick_runs WHERE job = 'chaos-$workload'" >/dev/null

        SIDE_BAD="" DISK_OPTION="" PIPE_WHICH="" RETRIES=""
        local cfg=${cfgs[$workload]}
        case $kind in
            restart_*)
                # a third of the restarts against a job that tries to reconnect once
                # (connect_retries: 0): the server is rarely back by then
                rand 3
                if [ "$R" = 0 ]; then
                    RETRIES=0
                    cfg=$(job_config "$workload" "once-$workload" "database:
  connect_retries: 0")
                fi
                ;;
        esac
        rm -f "$WORK/out" "$WORK/err" "$WORK/fault.err"
        inject "$kind" "$workload" "$cfg" "$id" "$delay"
        local fault_status=$STATUS
        trials[$kind]=$((${trials[$kind]:-0} + 1))
        landed[$kind]=$((${landed[$kind]:-0} + LANDED))
        codes[$kind]="${codes[$kind]:-} $fault_status"
        local note=""
        if [ "$fault_status" = hang ]; then
            hangs=$((hangs + 1))
            note="$note HANG"
        fi
        [ "$fault_status" = 70 ] && exit70=$((exit70 + 1))
        case " $(allowed_codes "$kind") " in
            *" $fault_status "*) ;;
            *) early_signal_or_unexpected "$kind" "$fault_status" "$workload" "$id" || note="$note UNEXPECTED-EXIT" ;;
        esac
        if [ -n "$SIDE_BAD" ]; then
            side_bad=$((side_bad + 1))
            note="$note SIDE-FILE($SIDE_BAD)"
        fi
        cp "$WORK/err" "$WORK/fault.err" 2>/dev/null || true

        wait_backends_gone "$workload" || note="$note SESSIONS-LEFT"
        read -r pairs dups record <<<"$(run_state "$workload" "$id")"
        # all of the budget with a succeeded record, or nothing: never in between
        if [ "$dups" != 0 ] || { [ "$pairs" != 0 ] && [ "$pairs" != "$BUDGET" ]; } ||
            { [ "$pairs" = "$BUDGET" ] && [ "$record" != succeeded ]; } ||
            { [ "$record" = succeeded ] && [ "$pairs" != "$BUDGET" ]; }; then
            partial=$((partial + 1))
            note="$note PARTIAL($pairs pairs, $dups duplicates, record $record)"
        fi
        if [ "$record" = running ]; then
            if [ "$kind" = kill9 ] && [ "$fault_status" = 137 ]; then
                stale_after_kill=$((stale_after_kill + 1))
            elif grep -q "is left marked running" "$WORK/fault.err"; then
                # the server was not back within connect_retries, and the run said so
                left_said=$((left_said + 1))
            else
                left_after_fault=$((left_after_fault + 1))
                note="$note LEFT-RUNNING(exit $fault_status)"
            fi
        fi
        local moment="at $delay ms"
        case $kind in
            restart_idle) moment="$delay ms after 0.2 s idle" ;;
            statement_timeout) moment="of $delay ms" ;;
            disk_full) moment="with $delay KiB free under $DISK_OPTION" ;;
            sigpipe) moment="$PIPE_WHICH closed at $delay ms" ;;
        esac
        local hit=""
        if [ "$LANDED" = 1 ]; then hit=" (hit)"; fi
        local fault_line="$kind/$workload${RETRIES:+ (connect_retries $RETRIES)} $moment: exit $fault_status$hit, $pairs pairs, record $record"

        # the same run id without the fault, until it succeeds
        retry_codes="" retry_status=none
        for _ in 1 2 3 4 5 6 7 8; do
            pp run "${cfgs[$workload]}" --run-id "$id"
            retry_status=$STATUS
            retry_codes="$retry_codes $STATUS"
            [ "$STATUS" = 70 ] && exit70=$((exit70 + 1))
            [ "$STATUS" = 0 ] && break
            case $STATUS in 69 | 75) sleep 1 ;; *) break ;; esac
        done
        retried=$((retried + 1))
        read -r pairs dups record <<<"$(run_state "$workload" "$id")"
        expected=$(sqlr "SELECT least(pairs_requested, pairs_available) FROM pairpick_runs WHERE job = 'chaos-$workload' AND run_id = '$id'")
        if [ "$retry_status" = 0 ] && [ "$record" = succeeded ] && [ "$dups" = 0 ] &&
            [ "$pairs" = "$expected" ] && [ "$pairs" = "$BUDGET" ]; then
            at_budget=$((at_budget + 1))
        else
            note="$note RETRY-SHORT(exits$retry_codes, $pairs pairs of ${expected:-?}, record $record)"
        fi
        local running
        running=$(sqlr "SELECT count(*) FROM pairpick_runs WHERE status = 'running'")
        if [ "$running" != 0 ]; then
            left_running=$((left_running + running))
            note="$note LEFT-RUNNING-AFTER-RETRY($running)"
        fi
        printf '    %3d %s; retry:%s\n' "$i" "$fault_line" "$retry_codes${note:+ --$note}"
        if [ -n "$note" ]; then
            failures="$failures $i"
            echo "        stderr of the faulted run:"
            sed 's/^/        | /' "$WORK/fault.err" | tail -n 15
        fi
    done

    echo
    echo "    chaos seed $CHAOS_SEED: per fault kind (trials, hit while running, exit codes of the faulted runs):"
    for kind in "${kinds[@]}"; do
        [ -n "${trials[$kind]:-}" ] || continue
        printf '      %-18s %3d trials, %3d hit, exits %s\n' "$kind" "${trials[$kind]}" "${landed[$kind]}" \
            "$(echo "${codes[$kind]}" | tr ' ' '\n' | grep . | sort -n | uniq -c | awk '{printf "%s%sx%s", sep, $2, $1; sep=" "}')"
    done
    echo "    records left running, then taken over by the retry: $stale_after_kill after kill -9, $left_said after a restart the run could not outwait (it said so)"
    echo "    SIGHUP/SIGTERM before pairpick's handlers were installed (no record, no pairs): $EARLY"
    echo "    partial writes: $partial, left running: $((left_running + left_after_fault)), exit 70: $exit70, retries ending at budget: $at_budget/$retried"
    [ "$UNEXPECTED" = 0 ] && [ "$side_bad" = 0 ] && [ "$hangs" = 0 ] ||
        echo "    unexpected exit codes: $UNEXPECTED, side files published partial or not at all: $side_bad, hangs: $hangs"
    [ -z "$failures" ] || fail "trials with a defect:$failures (CHAOS_SEED=$CHAOS_SEED)"
    [ "$partial" = 0 ] && [ "$left_running" = 0 ] && [ "$left_after_fault" = 0 ] && [ "$exit70" = 0 ] &&
        [ "$at_budget" = "$retried" ] && [ "$UNEXPECTED" = 0 ] && [ "$side_bad" = 0 ] && [ "$hangs" = 0 ] ||
        fail "the fault suite found defects (CHAOS_SEED=$CHAOS_SEED)"
}

start_server_with_demo 1500
trap 'unmount_full_disk; stop_server' EXIT INT TERM
# The test server runs with synchronous_commit=off (pg.sh), which can lose
# the last commits in an immediate restart: a run that reported success
# could come back `running`. The role setting overrides the server's.
sql "ALTER ROLE $PGUSER SET synchronous_commit = on;
     CREATE TABLE chaos_src AS
     SELECT i.job_uuid::text || '/' || n AS id, i.score, i.clip_embedding AS emb
       FROM demo.images AS i, generate_series(1, $COPIES) AS n" >/dev/null
mount_full_disk
set +e
run_tests "$@"
status=$?
set -e
exit "$status"
