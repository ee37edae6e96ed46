#!/usr/bin/env bash
# Integration tests of what an attacker or an unlucky operator can do to a
# run, against a real throwaway PostgreSQL (issue 14, and the login codes
# of issue 16): secrets in every spelling libpq accepts, a server restart
# while the connection sits idle at each statement, refused logins and
# malformed connection strings, rows no table can hold, and the edges of
# options and config values.
#
#   tests/integration/hardening.sh [test_name ...]     PAIRPICK=... for another build
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# An immediate restart; the socket stays in $PAIRPICK_PGDIR (see faults.sh).
restart_server() {
    as_owner "$PGBIN/pg_ctl" -D "$PAIRPICK_PGDIR/data" -l "$PAIRPICK_PGDIR/server.log" \
        -m immediate -w -t 60 restart >/dev/null
    for _ in $(seq 100); do
        psql -X -At -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "    the server did not come back after the restart" >&2
    return 1
}

score_config() { # job table [extra yaml at the top level]
    write_config "$1" <<YAML
job: $1
${3:-}
source:
  table: demo.images
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

# ---- login ----------------------------------------------------------------

# A role that logs in with a password over the unix socket (scram), while
# every other role keeps trust; created once.
PASSWORD="s3cr'et"
password_role() {
    [ "$(sql "SELECT count(*) FROM pg_roles WHERE rolname = 'pp_login'")" = 1 ] && return 0
    local hba="$PAIRPICK_PGDIR/data/pg_hba.conf"
    { echo "local all pp_login scram-sha-256"; cat "$hba"; } >"$hba.new"
    cat "$hba.new" >"$hba" && rm -f "$hba.new"
    echo "CREATE ROLE pp_login LOGIN SUPERUSER PASSWORD :'pw'; SELECT pg_reload_conf();" |
        psql -X -q -v ON_ERROR_STOP=1 -v pw="$PASSWORD" >/dev/null
}

# The server's log lines for refused logins of pp_login so far.
refused_logins() {
    grep -c 'password authentication failed for user "pp_login"' "$PAIRPICK_PGDIR/server.log" || true
}

login_config() { # job conninfo-lines (a YAML block scalar, indented here)
    write_config "$1" <<YAML
job: $1
database:
  connect_retries: 3
  conninfo: |-
$(echo "$2" | sed 's/^/    /')
source:
  table: demo.images
  id: job_uuid
  score: score
strategy: {by: score, bins: 3, max_pairs: 10, seed: 3}
output:
  table: t_login
YAML
}

test_wrong_password_exits_77_after_one_attempt() {
    password_role
    local before
    before=$(refused_logins)
    cfg=$(login_config wrong-pw "host=$PGHOST user=pp_login dbname=postgres password=wrong")
    pp run "$cfg" --run-id wrong1
    expect_status 77
    expect_grep "password authentication failed" "$WORK/err"
    expect_grep "28P01" "$WORK/err"
    expect_eq "$(( $(refused_logins) - before ))" 1 "login attempts the server refused"
    # no password at all where one is needed: the same, without the server's log line
    cfg=$(login_config no-pw "host=$PGHOST user=pp_login dbname=postgres")
    PGPASSWORD= PGPASSFILE=/nonexistent pp run "$cfg"
    expect_status 77
    # a role that does not exist (28000)
    cfg=$(login_config no-role "host=$PGHOST user=pp_nobody dbname=postgres")
    pp migrate "$cfg"
    expect_status 77
    expect_grep "28000" "$WORK/err"
}

test_malformed_conninfo_exits_78() {
    local conninfo
    for conninfo in "postgresql://pp_login:s3cret@[::1/postgres" \
        "postgresql://pp_login:s3cret@localhost/postgres?nonsense=1" \
        "postgresql://pp_login:s3cret@localhost:notaport/postgres" \
        "host=$PGHOST password='s3cret" \
        "host=$PGHOST port=70000 password=s3cret"; do
        cfg=$(login_config bad-uri "$conninfo")
        pp run "$cfg" --run-id bad-uri
        expect_status 78
        expect_grep "database.conninfo" "$WORK/err"
        ! grep -q s3cret "$WORK/err" "$WORK/out" || fail "the secret in the message for $conninfo"
    done
    expect_eq "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pairpick/bad-uri%'")" 0 "sessions"
}

# Every spelling of the password libpq accepts: the run logs in with it,
# and it is in no column of the run record, no log line and no JSON.
test_conninfo_secret_never_stored_or_printed() {
    password_role
    local socket_uri spelling i=0
    socket_uri=$(printf '%s' "$PGHOST" | sed 's|/|%2F|g')
    cfg=$(score_config secrets t_secrets)
    pp migrate "$cfg"; expect_status 0
    while IFS= read -r -d '|' spelling; do
        i=$((i + 1))
        cfg=$(login_config secrets "$spelling")
        sed -i 's/t_login/t_secrets/' "$cfg"
        pp run "$cfg" --run-id "secret-$i" --verbose --log-format json --max-pairs 1
        expect_status 0
        for file in "$WORK/out" "$WORK/err"; do
            ! grep -qiE "s3cr|cr%27|%73%33|3cret" "$file" || fail "spelling $i: the password in $(basename "$file")"
        done
        row=$(sql "SELECT r::text FROM pairpick_runs AS r WHERE run_id = 'secret-$i'")
        [ -n "$row" ] || fail "spelling $i: no run record"
        ! echo "$row" | grep -qiE "s3cr|cr%27|%73%33|3cret" || fail "spelling $i: the password in the run record: $row"
        echo "$row" | grep -q "password='\*\*\*'" || fail "spelling $i: no masked password in the record: $row"
    done <<EOF
host=$PGHOST user=pp_login dbname=postgres password = 's3cr\\'et'|host=$PGHOST user=pp_login password=s3cr\\'et dbname=postgres|host=$PGHOST
user=pp_login
password
=
's3cr\\'et'
dbname=postgres|postgresql://pp_login:s3cr%27et@$socket_uri/postgres|postgresql://pp_login@$socket_uri/postgres?password=s3cr%27et|postgresql:///postgres?host=$socket_uri&user=pp_login&pass%77ord=s3cr%27et|host=$PGHOST user=pp_login password='s3cr\\'et' sslpassword='s3cr\\'et' dbname=postgres|postgresql://pp_login:%73%33%63%72%27%65%74@$socket_uri/postgres|
EOF
    expect_eq "$i" 8 "spellings tried"
}

# ---- rows no table can hold ---------------------------------------------------

long_rows() {
    sql "SET client_min_messages = warning;
         DROP TABLE IF EXISTS long_rows;
         CREATE TABLE long_rows (id text, score float8, topic text);
         INSERT INTO long_rows SELECT 'ok-' || i, i % 7, CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END
           FROM generate_series(1, 40) AS i;
         -- over the btree limit of the pair's unique key
         INSERT INTO long_rows VALUES (repeat('x', 3000), 1, 'a');
         -- an id of 1024 bytes (the longest accepted) and a 255-byte category
         INSERT INTO long_rows VALUES (repeat('y', 1024), 2, 'b'), ('long-topic', 3, repeat('t', 255)),
                                      ('long-topic-2', 4, repeat('t', 255));
         -- 600 bytes with a two-byte character across byte 511
         INSERT INTO long_rows VALUES ('multibyte', 5, repeat('m', 510) || repeat('é', 45));" >/dev/null
}

long_config() { # job table extra-strategy-yaml
    write_config "$1" <<YAML
job: $1
source:
  table: long_rows
  id: id
  score: score
  category: topic
strategy:
  by: category
  max_pairs: ${MAX_PAIRS:-100000}
${3:-}
output:
  table: $2
YAML
}

test_long_ids_and_categories_are_rejected_not_fatal() {
    long_rows
    cfg=$(long_config long-rows t_long_rows)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --rejects "$WORK/long.csv" --labels-file "$WORK/long-labels.csv"
    expect_status 0
    expect_eq "$(json_field rows_skipped)" 2 "rows skipped"
    expect_grep "id_too_long 1" "$WORK/err"
    expect_grep "category_too_long 1" "$WORK/err"
    expect_grep ",id_too_long" "$WORK/long.csv"
    expect_grep "^\"multibyte\",category_too_long" "$WORK/long.csv"
    expect_eq "$(sql "SELECT count(*) FROM t_long_rows WHERE 'multibyte' IN (image_a, image_b)
                       OR length(image_a) > 1024 OR length(image_b) > 1024")" 0 "pairs of rejected rows"
    # nothing truncated: the 255-byte category whole in the table and the labels file
    expect_eq "$(sql "SELECT count(*) FROM t_long_rows WHERE category = repeat('t', 255)")" 1 "pair of the long topic"
    expect_eq "$(grep -c "^long-topic,$(printf 't%.0s' $(seq 255))\$" "$WORK/long-labels.csv")" 1 "long topic in the labels file"
    expect_eq "$(sql "SELECT count(*) FROM t_long_rows WHERE repeat('y', 1024) IN (image_a, image_b)")" 20 "pairs of the 1024-byte id"
}

# max_exposure counts an image by its id, whatever its length.
test_max_exposure_matches_long_ids() {
    long_rows
    sql "DELETE FROM long_rows WHERE topic = 'a' OR length(id) > 1024 OR id LIKE 'long-topic%' OR id = 'multibyte'" >/dev/null
    cfg=$(MAX_PAIRS=4 long_config long-exposure t_long_exposure '  max_exposure: 1
  seed: 5')
    pp migrate "$cfg"; expect_status 0
    for run in 1 2 3 4 5; do
        pp run "$cfg" --run-id "exposure-$run"; expect_status 0
    done
    expect_eq "$(sql "SELECT count(*) FROM t_long_exposure WHERE repeat('y', 1024) IN (image_a, image_b)")" 1 "pairs of the long id under max_exposure 1"
}

# ---- the output table's history -------------------------------------------------

# The pairs already stored among the selection are streamed into a set of
# 8-byte keys (not held as query rows) and count against
# resources.memory_limit: a limit too small for them is a clear exit 65,
# not an unbounded process.
test_stored_pairs_count_in_the_memory_limit() {
    sql "DROP TABLE IF EXISTS history_src;
         CREATE TABLE history_src AS SELECT 'img-' || i AS id, (i % 97)::float8 AS score FROM generate_series(1, 3000) AS i" >/dev/null
    cfg=$(write_config history <<'YAML'
job: history
source: {table: history_src, id: id, score: score}
strategy: {by: score, bins: 5, max_pairs: 100, seed: 2}
output: {table: t_history}
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id history-0; expect_status 0
    sql "INSERT INTO t_history (image_a, image_b, category, job, run_id)
         SELECT least(a, b), greatest(a, b), 'old', 'history', 'history-0'
           FROM (SELECT 'img-' || (1 + g % 3000) AS a, 'img-' || (1 + (g % 3000 + 1 + g / 3000) % 3000) AS b
                   FROM generate_series(0, 299999) AS g) AS p
         ON CONFLICT DO NOTHING" >/dev/null
    stored=$(sql "SELECT count(*) FROM t_history")
    sed 's/^output:/resources: {memory_limit: 2MB}\noutput:/' "$cfg" >"$WORK/history-limited.yaml"
    pp run "$WORK/history-limited.yaml" --run-id history-limited
    expect_status 65
    expect_grep "resources.memory_limit" "$WORK/err"
    expect_grep "already stored" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM t_history")" "$stored" "pairs after the refused run"
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'history-limited'")" failed "run record"
    sed 's/^output:/resources: {memory_limit: 64MB}\noutput:/' "$cfg" >"$WORK/history-roomy.yaml"
    /usr/bin/time -f %M -o "$WORK/history.rss" "$PAIRPICK" run "$WORK/history-roomy.yaml" --run-id history-1 \
        >"$WORK/out" 2>"$WORK/err" || fail "the run with room for the history failed"
    expect_eq "$(json_field pairs_inserted)" 100 "pairs"
    echo "    peak RSS with $stored stored pairs: $(( $(cat "$WORK/history.rss") / 1024 )) MB"
}

# prefer uncertain holds strategy.window candidate pairs an image (24 bytes
# each): they count against resources.memory_limit too, a clear exit 65
# naming the limit and the policy, nothing written, instead of a process
# that grows with window x images.
test_uncertain_candidates_count_in_the_memory_limit() {
    sql "DROP TABLE IF EXISTS window_src;
         CREATE TABLE window_src AS SELECT 'img-' || i AS id, (i % 997)::float8 / 100 AS score,
                0.01 + (i % 7)::float8 / 100 AS variance FROM generate_series(1, 20000) AS i" >/dev/null
    cfg=$(write_config window <<'YAML'
job: window
source: {table: window_src, id: id, score: score, variance: variance}
strategy: {by: score, bins: 5, max_pairs: 100, seed: 2, prefer: uncertain, window: 50}
resources: {memory_limit: 8MB}
output: {table: t_window}
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id window-limited
    expect_status 65
    expect_grep "resources.memory_limit" "$WORK/err"
    expect_grep "prefer uncertain" "$WORK/err"
    expect_grep "strategy.window" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM t_window")" 0 "pairs after the refused run"
    expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'window-limited'")" failed "run record"
    sed 's/memory_limit: 8MB/memory_limit: 64MB/' "$cfg" >"$WORK/window-roomy.yaml"
    pp run "$WORK/window-roomy.yaml" --run-id window-roomy; expect_status 0
    expect_eq "$(json_field pairs_inserted)" 100 "pairs with room for the candidates"
}

# ---- options and config edges ----------------------------------------------

# Four spellings of one output table are one table: its migrations run
# once, one copy of each index, one key in the ledger; a ledger written
# under a spelling (before it was keyed by identity) is taken over, not
# applied again.
test_migrations_keyed_by_table_identity() {
    local spelling
    for spelling in "spell_t" "public.spell_t" '"spell_t"' '"public"."spell_t"'; do
        cfg=$(score_config spell "'$spelling'" | tee /dev/null)
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --max-pairs 5; expect_status 0
    done
    expect_eq "$(sql "SELECT count(DISTINCT target) FROM pairpick_migrations WHERE target LIKE '%spell_t%'")" 1 "ledger keys"
    local indexes
    indexes=$(sql "SELECT count(*) FROM pg_indexes WHERE tablename = 'spell_t'")
    sql "CREATE TABLE spell_check (LIKE spell_t)" >/dev/null
    expect_eq "$(sql "SELECT count(*) FROM pg_indexes WHERE tablename = 'spell_t'
                       AND indexdef NOT LIKE '%UNIQUE%' AND indexname ~ '[0-9]$'")" 0 "numbered copies of an index"
    # a ledger keyed by an old spelling
    sql "UPDATE pairpick_migrations SET target = 'spell_t' WHERE target = 'public.spell_t'" >/dev/null
    cfg=$(score_config spell "'\"public\".\"spell_t\"'")
    pp run "$cfg" --max-pairs 5; expect_status 0
    pp migrate "$cfg"; expect_status 0
    expect_eq "$(json_field applied)" 0 "migrations applied again"
    expect_eq "$(sql "SELECT count(*) FROM pg_indexes WHERE tablename = 'spell_t'")" "$indexes" "indexes"
    expect_eq "$(sql "SELECT string_agg(DISTINCT target, ',') FROM pairpick_migrations WHERE target LIKE '%spell_t%'")" \
        public.spell_t "ledger key after the take-over"
}

test_numeric_options_within_what_the_columns_hold() {
    cfg=$(score_config ranges t_ranges)
    pp migrate "$cfg"; expect_status 0
    pp run "$cfg" --run-id big --max-pairs 9223372036854775808
    expect_status 64
    expect_grep "max-pairs" "$WORK/err"
    expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE job = 'ranges'")" 0 "runs registered"
    pp run "$cfg" --run-id biggest --max-pairs 9223372036854775807
    expect_status 0
    expect_eq "$(sql "SELECT status || ' ' || pairs_requested FROM pairpick_runs WHERE run_id = 'biggest'")" \
        "succeeded 9223372036854775807" "run record"
    local value
    for value in 'max_pairs: 9223372036854775808' 'max_pairs: 0' 'seed: 18446744073709551616' \
        'kmeans: {refit_after: 9000000000000000000ms}'; do
        sed "s/^  seed: 11/  $value/" "$cfg" >"$WORK/range.yaml"
        pp check "$WORK/range.yaml"
        expect_status 78
    done
    sed "s/^strategy:/filters: {date: {last: 106751991167d}}\nstrategy:/; s/^  score: score/  score: score\n  date: created_at/" \
        "$cfg" >"$WORK/range.yaml"
    pp check "$WORK/range.yaml"
    expect_status 78
}

test_as_of_relative_words_are_refused() {
    cfg=$(score_config asof t_asof)
    pp migrate "$cfg"; expect_status 0
    local word
    for word in now NOW today tomorrow yesterday 'today 10:00' ' now ' 'yesterday UTC'; do
        pp run "$cfg" --as-of "$word"
        expect_status 64
        expect_grep "as-of" "$WORK/err"
    done
    expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE job = 'asof'")" 0 "runs registered"
    pp run "$cfg" --as-of 2026-11-28T00:00:00Z; expect_status 0
}

test_empty_selection_with_prefer_uncertain_is_nothing_to_do() {
    sql "CREATE TABLE empty_src (id text, score float8, topic text)" >/dev/null
    local by
    for by in score category; do
        cfg=$(write_config "empty-$by" <<YAML
job: empty-$by
source: {table: empty_src, id: id, score: score, category: topic}
strategy: {by: $by, prefer: uncertain, max_pairs: 10}
output: {table: t_empty_uncertain}
YAML
)
        pp migrate "$cfg"; expect_status 0
        pp run "$cfg" --run-id "empty-$by"; expect_status 0
        expect_eq "$(json_field pairs_inserted)" 0 "$by: pairs"
        expect_eq "$(sql "SELECT status FROM pairpick_runs WHERE run_id = 'empty-$by'")" succeeded "$by: run record"
    done
}

# A run that refits its model stores the version with its pairs: when the
# write fails, no version is left behind, and the retry stores one.
test_refitted_model_stored_with_the_pairs_or_not_at_all() {
    sql "CREATE TABLE IF NOT EXISTS refit_img AS SELECT job_uuid AS id, score, clip_embedding AS emb
           FROM demo.images WHERE clip_embedding IS NOT NULL LIMIT 400" >/dev/null
    cfg=$(write_config refit-write <<'YAML'
job: refit-write
source:
  table: refit_img
  id: id
  score: score
  embedding: emb
strategy:
  by: embedding
  clusters: 4
  clusters_from: refit-write-model
  kmeans: {refit_after: 1ms, n_init: 1, max_iter: 5}
  max_pairs: 30
  seed: 3
output:
  table: t_refit_write
YAML
)
    pp migrate "$cfg"; expect_status 0
    pp fit "$cfg"; expect_status 0
    expect_eq "$(sql "SELECT max(version) FROM pairpick_cluster_models WHERE name = 'refit-write-model'")" 1 "versions after fit"
    sql "CREATE FUNCTION refit_fail() RETURNS trigger LANGUAGE plpgsql AS
         \$\$ BEGIN RAISE EXCEPTION 'disk full (test)' USING ERRCODE = 'disk_full'; END \$\$;
         CREATE TRIGGER refit_fail BEFORE INSERT ON pairpick_runs FOR EACH STATEMENT EXECUTE FUNCTION refit_fail();
         DROP TRIGGER refit_fail ON pairpick_runs;
         CREATE TRIGGER refit_fail BEFORE INSERT ON t_refit_write FOR EACH STATEMENT EXECUTE FUNCTION refit_fail();" >/dev/null
    sleep 0.01
    pp run "$cfg" --run-id refit1
    expect_status 75
    expect_eq "$(sql "SELECT count(*) FROM t_refit_write")" 0 "pairs of the failed run"
    expect_eq "$(sql "SELECT max(version) FROM pairpick_cluster_models WHERE name = 'refit-write-model'")" 1 \
        "versions after the failed write"
    sql "DROP TRIGGER refit_fail ON t_refit_write" >/dev/null
    pp run "$cfg" --run-id refit1; expect_status 0
    expect_eq "$(sql "SELECT max(version) FROM pairpick_cluster_models WHERE name = 'refit-write-model'")" 2 \
        "versions after the retry"
    expect_eq "$(sql "SELECT model_version || ' ' || model_refitted FROM pairpick_runs WHERE run_id = 'refit1'")" \
        "2 true" "model on the run record"
}

# ---- a lost idle connection -------------------------------------------------

# The server restarts while the connection sits idle before each message
# the run sends (strace holds the Nth send; the backend waits on the client,
# idle or inside a COPY FROM STDIN; once the server is back, killing strace
# lets the send go): the run fails with 75 ("retry"), writes nothing, and
# its record ends failed, never running.
test_lost_idle_connection_at_every_statement() {
    skip_without_strace
    skip_if_sanitized "LeakSanitizer aborts a process traced with ptrace (strace), so the sanitized binary cannot be traced"
    cfg=$(score_config idle t_idle)
    pp migrate "$cfg"; expect_status 0
    strace -f -qq -o "$WORK/sends" -e trace=sendto "$PAIRPICK" run "$cfg" --run-id idle-count \
        >/dev/null 2>&1 || fail "the traced run failed"
    local sends
    sends=$(grep -c 'sendto(' "$WORK/sends")
    sql "DELETE FROM t_idle" >/dev/null
    [ "$sends" -gt 20 ] || fail "only $sends sends in a run"
    local n statuses=""
    # 1 is the startup packet, the last the goodbye after the commit.
    for n in $(seq 2 $((sends - 1))); do
        # A killed tracer detaches its tracee at once, so the run is
        # started by a shell that records its exit status (strace's own
        # is the kill's).
        rm -f "$WORK/status"
        strace -f -qq -o /dev/null -e trace=sendto -e inject=sendto:delay_enter=120s:when="$n" \
            sh -c '"$0" run "$1" --run-id "$2" >"$3/out" 2>"$3/err"; echo $? >"$3/status"' \
            "$PAIRPICK" "$cfg" "idle-$n" "$WORK" &
        local pid=$! held=0
        for _ in $(seq 60); do
            if [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pairpick/idle'
                          AND wait_event = 'ClientRead' AND state_change < clock_timestamp() - interval '0.5 s'")" = 1 ]; then
                held=1
                break
            fi
            sleep 0.1
        done
        [ "$held" = 1 ] || fail "send $n: the connection was never idle for 0.5 s"
        restart_server
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        for _ in $(seq 300); do
            [ -s "$WORK/status" ] && break
            sleep 0.1
        done
        [ -s "$WORK/status" ] || fail "send $n: the run did not end within 30 s of the restart"
        STATUS=$(cat "$WORK/status")
        statuses="$statuses $n:$STATUS"
        [ "$STATUS" -eq 75 ] || fail "send $n ($(grep -o '"[a-z ]*" failed' "$WORK/err" | head -1)): exit $STATUS, expected 75"
        expect_grep_i "connection|terminat|shut" "$WORK/err"
        expect_eq "$(sql "SELECT count(*) FROM t_idle")" 0 "send $n: pairs written"
        expect_eq "$(sql "SELECT coalesce(string_agg(status, ','), 'none') FROM pairpick_runs WHERE run_id = 'idle-$n'")" \
            "$(sql "SELECT CASE WHEN count(*) = 0 THEN 'none' ELSE 'failed' END FROM pairpick_runs WHERE run_id = 'idle-$n'")" \
            "send $n: run record"
        expect_eq "$(sql "SELECT count(*) FROM pairpick_runs WHERE run_id = 'idle-$n' AND status = 'running'")" 0 \
            "send $n: runs left running"
    done
    echo "    exit status per send held:$statuses"
    pp run "$cfg" --run-id idle-after; expect_status 0
}

expect_grep_i() { # extended-regexp file, case-insensitive
    grep -qiE -- "$1" "$2" || fail "expected /$1/i in $(basename "$2")"
}

start_server_with_demo 1500
set +e
run_tests "$@"
status=$?
set -e
exit "$status"
