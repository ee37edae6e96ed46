#!/usr/bin/env bash
# Runs every integration suite (each starts and removes its own PostgreSQL)
# and prints one total line: "integration: N passed, N failed, N skipped".
#
# INTEGRATION_JOBS suites run at once (default 3): much of a suite's time is
# spent waiting (server start-up, timeouts, sleeps), so three at a time keep
# two cores busy. Each suite's output is printed whole when it ends, with its wall
# time; INTEGRATION_JOBS=1 runs them one after another.
set -uo pipefail
cd "$(dirname "$0")"
jobs=${INTEGRATION_JOBS:-3}
case $jobs in '' | *[!0-9]* | 0) echo "all.sh: INTEGRATION_JOBS must be a positive integer" >&2; exit 64 ;; esac
out=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-suites.XXXXXX")
template=""
remove_template() {
    [ -z "$template" ] || ../tools/pg.sh stop "$template"
}
trap 'remove_template; rm -rf "$out"' EXIT
# An interrupted run stops the suites it started (their own traps remove
# their clusters).
stop_suites() {
    local pid
    for pid in $(jobs -p); do pkill -TERM -P "$pid" 2>/dev/null; kill "$pid" 2>/dev/null; done
    wait
    exit 130
}
trap stop_suites INT TERM

# One cluster loaded with the demo images and stopped cleanly: each suite
# that needs them copies its data directory (lib.sh start_server_with_demo)
# instead of running initdb and the load itself. When it cannot be built,
# every suite loads its own.
DEMO_IMAGES=1500
build_template() {
    local env
    env=$(../tools/pg.sh start) || return 1
    template=$(eval "$env"; echo "$PAIRPICK_PGDIR")
    (eval "$env" && psql -q -X -v ON_ERROR_STOP=1 -v images="$DEMO_IMAGES" \
        -f ../../sql/demo/demo_images.sql) >/dev/null 2>&1 || return 1
    ../tools/pg.sh halt "$template" || return 1
    export PAIRPICK_PG_TEMPLATE="$template/data" PAIRPICK_PG_TEMPLATE_IMAGES=$DEMO_IMAGES
}
if ! build_template; then
    echo "all.sh: no template cluster (each suite loads the demo images itself)"
    remove_template
    template=""
fi

passed=0 failed=0 skipped=0 status=0
# Every suite here is part of `make test`; lib.sh is their library and
# valgrind.sh runs from `make test-valgrind`.
# INTEGRATION_SUITES picks some (e.g. "cli.sh run.sh").
# The order: longest first, as measured in the plain pass of a fresh-clone
# make test (hardening 206 s ... cli 29 s), so the suites that end last are
# short and the cores stay busy to the end; suites not named here follow.
order="hardening.sh run.sh faults.sh numbers.sh schedule.sh outputs.sh models.sh informative.sh pgvector.sh sheet.sh chaos.sh cli.sh"
others=$(ls *.sh | grep -vxE 'all\.sh|lib\.sh|valgrind\.sh' | grep -vxF -f <(tr ' ' '\n' <<<"$order") | tr '\n' ' ')
suites=${INTEGRATION_SUITES:-$order $others}

run_suite() { # suite: output in $out/suite.log, "rc seconds" in $out/suite.end
    local start=$SECONDS rc
    ./"$1" >"$out/$1.log" 2>&1
    rc=$?
    echo "$rc $((SECONDS - start))" >"$out/$1.end.tmp" && mv "$out/$1.end.tmp" "$out/$1.end"
}

# Prints a finished suite's output and adds its closing line
# (lib.sh's run_tests) to the totals; a suite that died before it counts as
# one failure.
report() { # suite
    local suite=$1 rc seconds line suite_passed suite_failed suite_skipped
    read -r rc seconds <"$out/$suite.end"
    echo "== integration: $suite (${seconds} s)"
    cat "$out/$suite.log"
    [ "$rc" -eq 0 ] || status=1
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$out/$suite.log" | tail -1)
    if [ -z "$line" ]; then
        status=1
        failed=$((failed + 1))
        echo "$suite: no result line (exit $rc)"
        return
    fi
    read -r suite_passed _ suite_failed _ suite_skipped _ <<<"$line"
    passed=$((passed + suite_passed))
    failed=$((failed + suite_failed))
    skipped=$((skipped + suite_skipped))
}

pending=($suites)
running=()
while [ ${#pending[@]} -gt 0 ] || [ ${#running[@]} -gt 0 ]; do
    while [ ${#pending[@]} -gt 0 ] && [ ${#running[@]} -lt "$jobs" ]; do
        run_suite "${pending[0]}" &
        running+=("${pending[0]}")
        pending=("${pending[@]:1}")
    done
    wait -n 2>/dev/null || true
    still=()
    for suite in "${running[@]}"; do
        if [ -f "$out/$suite.end" ]; then report "$suite"; else still+=("$suite"); fi
    done
    running=("${still[@]}")
done
echo
echo "integration: $passed passed, $failed failed, $skipped skipped"
exit "$status"
