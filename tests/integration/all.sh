#!/usr/bin/env bash
# Runs every integration suite (each starts and removes its own PostgreSQL)
# and prints one total line: "integration: N passed, N failed, N skipped".
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
    # run_tests' closing line (lib.sh); a suite that died before it counts as one failure.
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' /tmp/pairpick-suite.$$ | tail -1)
    if [ -z "$line" ]; then
        status=1
        failed=$((failed + 1))
        echo "$suite: no result line"
        continue
    fi
    read -r suite_passed _ suite_failed _ suite_skipped _ <<<"$line"
    passed=$((passed + suite_passed))
    failed=$((failed + suite_failed))
    skipped=$((skipped + suite_skipped))
done
rm -f /tmp/pairpick-suite.$$
echo
echo "integration: $passed passed, $failed failed, $skipped skipped"
exit "$status"
