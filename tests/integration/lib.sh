# Shared by the integration tests: a throwaway PostgreSQL, the binary under
# test, and small assertion helpers. Sourced, not run.

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAIRPICK=${PAIRPICK:-$ROOT/build/pairpick}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-it.XXXXXX")
PASSED=0
FAILED=0
FAILED_NAMES=""

start_server() {
    eval "$("$ROOT/tests/tools/pg.sh" start)"
    trap 'stop_server' EXIT INT TERM
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

# Runs each test function named on the command line (or all test_*),
# in a subshell so one failure does not stop the others.
run_tests() {
    tests=${*:-$(declare -F | awk '{print $3}' | grep '^test_')}
    for test in $tests; do
        # Not inside `if`: there errexit would be off in the subshell too,
        # and a failed assertion in the middle of a test would go unseen.
        set +e
        ( set -e; "$test" )
        rc=$?
        set -e
        if [ "$rc" -eq 0 ]; then
            PASSED=$((PASSED + 1))
            echo "ok   $test"
        else
            FAILED=$((FAILED + 1))
            FAILED_NAMES="$FAILED_NAMES $test"
            echo "FAIL $test"
        fi
    done
    echo
    [ -z "$FAILED_NAMES" ] || echo "failed:$FAILED_NAMES"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

# Reports each test function named on the command line (or all test_*) as
# skipped, with the reason, and the result lines all.sh adds up: skipped
# tests never count as passed.
skip_tests() { # reason [test_name ...]
    local reason=$1 skipped=0
    shift
    tests=${*:-$(declare -F | awk '{print $3}' | grep '^test_')}
    for test in $tests; do
        echo "SKIP $test ($reason)"
        skipped=$((skipped + 1))
    done
    echo
    echo "0 passed, 0 failed"
    echo "$skipped skipped"
    rm -rf "$WORK"
}

# A config file in $WORK from a here-document; prints its path.
write_config() { # name
    cat >"$WORK/$1.yaml"
    echo "$WORK/$1.yaml"
}
