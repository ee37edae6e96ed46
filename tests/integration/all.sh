#!/usr/bin/env bash
# Runs every integration suite (each starts and removes its own PostgreSQL)
# and prints one total line.
set -uo pipefail
cd "$(dirname "$0")"
passed=0 failed=0 skipped=0 status=0
# Every suite here is part of `make test`, run.sh first; lib.sh is their
# library and valgrind.sh runs from `make test-valgrind`.
suites="run.sh $(ls *.sh | grep -vxE 'all\.sh|lib\.sh|run\.sh|valgrind\.sh' | tr '\n' ' ')"
for suite in $suites; do
    echo "== integration: $suite"
    ./"$suite" 2>&1 | tee /tmp/pairpick-suite.$$
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' /tmp/pairpick-suite.$$ | tail -1)
    [ -n "$line" ] || { status=1; failed=$((failed + 1)); echo "$suite: no result line"; }
    passed=$((passed + $(echo "${line:-0 passed}" | awk '{print $1}')))
    failed=$((failed + $(echo "${line:-0 passed, 0 failed}" | awk '{print $3}')))
    # a suite whose prerequisite is missing (pgvector) reports its tests skipped
    skip_line=$(grep -E '^[0-9]+ skipped$' /tmp/pairpick-suite.$$ | tail -1)
    skipped=$((skipped + $(echo "${skip_line:-0 skipped}" | awk '{print $1}')))
done
rm -f /tmp/pairpick-suite.$$
echo
echo "integration: $passed passed, $failed failed$([ "$skipped" -eq 0 ] || echo ", $skipped skipped")"
exit "$status"
