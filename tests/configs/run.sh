#!/usr/bin/env bash
# The bad-config corpus: `pairpick check` on every tests/configs/bad/NN-name
# must exit with the code on line 1 of NN-name.expect and print every
# further line of it (a fixed-string fragment, with file:line:column where
# the error has one) on stderr, and nothing on stdout. A case without a
# committed .yaml is made at test time by its .gen script (the >1 MiB file).
#
#   tests/configs/run.sh [NN-name ...]      PAIRPICK=path/to/pairpick to test another build
#
# No database: `check` without --db reads only the file.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAIRPICK=${PAIRPICK:-$ROOT/build/pairpick}
BAD=$ROOT/tests/configs/bad
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-configs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# 43-missing-env-var must find its variable unset, whatever the caller's
# environment holds.
unset PAIRPICK_TEST_UNSET_URL

if [ ! -x "$PAIRPICK" ]; then
    echo "configs: $PAIRPICK is not built (make)" >&2
    exit 1
fi

passed=0
failed=0
failed_names=""

if [ "$#" -gt 0 ]; then
    names=("$@")
else
    names=()
    for expect in "$BAD"/*.expect; do
        names+=("$(basename "$expect" .expect)")
    done
fi

for name in "${names[@]}"; do
    expect=$BAD/$name.expect
    file=$BAD/$name.yaml
    if [ ! -f "$expect" ]; then
        echo "FAIL $name: no $name.expect"
        failed=$((failed + 1)); failed_names="$failed_names $name"
        continue
    fi
    if [ ! -f "$file" ] && [ -f "$BAD/$name.gen" ]; then
        file=$WORK/$name.yaml
        bash "$BAD/$name.gen" >"$file"
    fi
    # Messages name the file as given: run from its folder with a bare name,
    # so the fragments need no path.
    (cd "$(dirname "$file")" && "$PAIRPICK" check "$(basename "$file")") \
        >"$WORK/out" 2>"$WORK/err"
    status=$?
    want_status=$(sed -n 1p "$expect")
    problems=""
    [ "$status" = "$want_status" ] || problems="$problems; exit $status, expected $want_status"
    [ "$status" -lt 128 ] || problems="$problems; killed by signal $((status - 128))"
    [ ! -s "$WORK/out" ] || problems="$problems; printed on stdout"
    while IFS= read -r fragment; do
        [ -n "$fragment" ] || continue
        grep -qF -- "$fragment" "$WORK/err" || problems="$problems; no '$fragment' on stderr"
    done < <(sed -n '2,$p' "$expect")
    # Every error names the file it is about.
    grep -qF -- "$(basename "$file")" "$WORK/err" || problems="$problems; the file is not named"
    if [ -z "$problems" ]; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1)); failed_names="$failed_names $name"
        echo "FAIL $name${problems}"
        sed 's/^/    | /' "$WORK/err"
    fi
done

echo
[ -z "$failed_names" ] || echo "failed:$failed_names"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
