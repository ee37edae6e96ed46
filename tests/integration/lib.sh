# Shared by the integration tests: a throwaway PostgreSQL, the binary under
# test, and small assertion helpers. Sourced, not run.

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAIRPICK=${PAIRPICK:-$ROOT/build/pairpick}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-it.XXXXXX")
PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=""
# skip's exit status; a test ends with it and no reason file only by failing.
SKIP_STATUS=77

start_server() {
    eval "$("$ROOT/tests/tools/pg.sh" start)"
    trap 'stop_server' EXIT INT TERM
}

# A cluster holding the demo images (sql/demo/demo_images.sql, seeded, so
# every load of a count is the same rows): a copy of the template all.sh
# built for that count (initdb and the load, about 4 s of CPU, once for all
# suites), else started and loaded here.
start_server_with_demo() { # images
    echo "loading demo images..."
    if [ -n "${PAIRPICK_PG_TEMPLATE:-}" ] && [ "${PAIRPICK_PG_TEMPLATE_IMAGES:-}" = "$1" ] \
        && [ -d "$PAIRPICK_PG_TEMPLATE" ]; then
        eval "$(PAIRPICK_PG_COPY="$PAIRPICK_PG_TEMPLATE" "$ROOT/tests/tools/pg.sh" start)"
        trap 'stop_server' EXIT INT TERM
        return 0
    fi
    start_server
    psql -q -X -v ON_ERROR_STOP=1 -v images="$1" -f "$ROOT/sql/demo/demo_images.sql" >/dev/null 2>&1
}

stop_server() {
    [ -n "${PAIRPICK_PGDIR:-}" ] && "$ROOT/tests/tools/pg.sh" stop "$PAIRPICK_PGDIR"
    PAIRPICK_PGDIR=""
    rm -rf "$WORK"
}

# sql "SELECT ..." -> the value(s), unaligned, no headers.
sql() {
    psql -X -At -v ON_ERROR_STOP=1 -c "$1"
}

# Runs pairpick with arguments; stdout in $WORK/out, stderr in $WORK/err,
# exit status in $STATUS.
pp() {
    set +e
    "$PAIRPICK" "$@" >"$WORK/out" 2>"$WORK/err"
    STATUS=$?
    set -e
}

# json_field KEY: a field of the JSON line pairpick printed (parsed by PostgreSQL).
json_field() {
    # psql interpolates :'var' only in commands read from input, not in -c.
    echo "SELECT (:'line'::json) ->> :'key';" |
        psql -X -At -v ON_ERROR_STOP=1 -v line="$(tail -n 1 "$WORK/out")" -v key="$1"
}

fail() {
    echo "    FAIL: $*" >&2
    echo "    --- stderr of the last pairpick:" >&2
    sed 's/^/    | /' "$WORK/err" >&2 2>/dev/null || true
    echo "    --- stdout:" >&2
    sed 's/^/    | /' "$WORK/out" >&2 2>/dev/null || true
    return 1
}

expect_status() {
    [ "$STATUS" -eq "$1" ] || fail "expected exit $1, got $STATUS"
}

expect_eq() { # actual expected what
    [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

expect_grep() { # pattern file
    grep -q -- "$1" "$2" || fail "expected '$1' in $(basename "$2")"
}

# Ends the current test as skipped, not passed: for a test that cannot
# measure what it checks here (e.g. ulimit -v under AddressSanitizer).
# The reason goes to a file beside the exit status, so a command that
# happens to exit 77 inside a test still counts as a failure.
skip() { # reason
    echo "$*" >"$WORK/skip-reason"
    exit "$SKIP_STATUS"
}

# True when $PAIRPICK is an AddressSanitizer build (make test-sanitize).
pairpick_is_sanitized() {
    grep -q __asan_init "$PAIRPICK" 2>/dev/null
}

# Skips the test when strace is missing or cannot trace here (a container
# without ptrace).
skip_without_strace() {
    command -v strace >/dev/null || skip "strace is not installed"
    strace -qq -o /dev/null -e trace=none true 2>/dev/null || skip "strace cannot trace here"
}

# Skips the test, with the reason, for a sanitized binary: a check that
# AddressSanitizer itself defeats (its shadow memory, ptrace under LSan).
skip_if_sanitized() { # reason
    if pairpick_is_sanitized; then
        skip "$*"
    fi
}

# Runs each test function named on the command line (or all test_*),
# in a subshell so one failure does not stop the others. Closes with
# "N passed, N failed, N skipped" (all.sh reads that line); the status is
# non-zero when a test failed, skipped tests do not count against it.
run_tests() {
    tests=${*:-$(declare -F | awk '{print $3}' | grep '^test_')}
    for test in $tests; do
        rm -f "$WORK/skip-reason"
        # Not inside `if`: there errexit would be off in the subshell too,
        # and a failed assertion in the middle of a test would go unseen.
        set +e
        ( set -e; "$test" )
        rc=$?
        set -e
        if [ "$rc" -eq "$SKIP_STATUS" ] && [ -f "$WORK/skip-reason" ]; then
            SKIPPED=$((SKIPPED + 1))
            echo "skip $test: $(cat "$WORK/skip-reason")"
        elif [ "$rc" -eq 0 ]; then
            PASSED=$((PASSED + 1))
            echo "ok   $test"
        else
            FAILED=$((FAILED + 1))
            FAILED_NAMES="$FAILED_NAMES $test"
            echo "FAIL $test"
        fi
        rm -f "$WORK/skip-reason"
    done
    echo
    [ -z "$FAILED_NAMES" ] || echo "failed:$FAILED_NAMES"
    echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    [ "$FAILED" -eq 0 ]
}

# Reports each test function named on the command line (or all test_*) as
# skipped, with the reason, and the result lines all.sh adds up: skipped
# tests never count as passed.
# Skips a whole suite whose prerequisite is missing (pgvector): every test
# named (or every test_*) counts as skipped, with the reason, in the same
# closing line as run_tests.
skip_tests() { # reason [test_name ...]
    local reason=$1 skipped=0
    shift
    tests=${*:-$(declare -F | awk '{print $3}' | grep '^test_')}
    for test in $tests; do
        echo "skip $test: $reason"
        skipped=$((skipped + 1))
    done
    echo
    echo "0 passed, 0 failed, $skipped skipped"
    rm -rf "$WORK"
}

# A config file in $WORK from a here-document; prints its path.
write_config() { # name
    cat >"$WORK/$1.yaml"
    echo "$WORK/$1.yaml"
}
