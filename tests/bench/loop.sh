#!/usr/bin/env bash
# The closed-loop benchmark of issue 18 (`make bench-loop`, `make test-loop`):
# starts a throwaway PostgreSQL (tests/tools/pg.sh), runs tests/bench/loop.py
# against it with the arguments given, and removes the server on any exit.
# Exits with loop.py's status (1: a --check failed).
#
# Environment: PAIRPICK=build/pairpick, PGBIN=/usr/lib/postgresql/15/bin.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAIRPICK=${PAIRPICK:-$ROOT/build/pairpick}
PYTHON=/usr/bin/python3 # not a pyenv shim: Debian's python with Debian's numpy and scipy

die() {
    echo "loop: $*" >&2
    exit 1
}

[ -x "$PAIRPICK" ] || die "$PAIRPICK not found: run 'make all' first"
"$PYTHON" -c 'import numpy, scipy' 2>/dev/null \
    || die "Debian's python3-numpy and python3-scipy are missing
HINT: make deps-test installs them (apt-get install python3-numpy python3-scipy)"

PAIRPICK_PGDIR=""
CHILD=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$CHILD" ]; then
        kill "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    if [ -n "$PAIRPICK_PGDIR" ]; then
        "$ROOT/tests/tools/pg.sh" stop "$PAIRPICK_PGDIR" || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

eval "$("$ROOT/tests/tools/pg.sh" start)"
export PGHOST PGPORT PGUSER PGDATABASE
# One BLAS thread per worker process: loop.py runs one worker per core.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# No __pycache__ beside the sources in the tree.
export PYTHONDONTWRITEBYTECODE=1

# In the background so that a signal reaches the traps at once.
status=0
"$PYTHON" "$ROOT/tests/bench/loop.py" --pairpick "$PAIRPICK" "$@" &
CHILD=$!
wait "$CHILD" || status=$?
CHILD=""
exit "$status"
