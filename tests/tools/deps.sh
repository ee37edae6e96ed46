#!/bin/sh
# Installs the Debian packages pairpick needs to build and run its demo
# (and, with --test, what the tests use too), when any is missing. A no-op
# when everything is there.
set -eu

packages="gcc make pkg-config libc6-dev libpq-dev libyaml-dev libcmocka-dev libopenblas-dev
postgresql-15 postgresql-client-15"
if [ "${1:-}" = "--test" ]; then
    # chromium: the contact-sheet test renders the page headless.
    # mandoc: lints the manual pages in docs/ (mandoc -Tlint).
    # python3-numpy, python3-scipy: the closed-loop benchmark's simulator and
    # refit (tests/bench/loop.py, make test-loop and make bench-loop).
    # prometheus: promtool checks the --metrics-file output.
    # python3-sklearn: the reference side of `make bench-clusters` (tests/bench/clusters.py).
    # debhelper, lintian: make deb and its check (dpkg-dev and fakeroot come
    # with debhelper); mmdebstrap, podman, runc: make image and its run
    # (runc where crun cannot start containers on a hybrid cgroup host).
    packages="$packages chromium valgrind clang libclang-rt-14-dev mandoc python3-numpy
python3-scipy prometheus python3-sklearn debhelper lintian mmdebstrap podman runc"
fi

missing=""
for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $package" ;;
    esac
done

# pgvector (the vector and halfvec types) for tests/integration/pgvector.sh:
# a test dependency only, never part of the tree. PGDG's apt sources package
# it; Debian 12's do not, so it is built from the archive PGVECTOR_SRC names
# when there is one. Without either, the pgvector tests are skipped.
PGVECTOR_CONTROL=/usr/share/postgresql/15/extension/vector.control
pgvector_from=""
if [ "${1:-}" = "--test" ] && [ ! -e "$PGVECTOR_CONTROL" ]; then
    if apt-cache show postgresql-15-pgvector >/dev/null 2>&1; then
        pgvector_from=apt
        missing="$missing postgresql-15-pgvector"
    elif [ -n "${PGVECTOR_SRC:-}" ] && [ -f "$PGVECTOR_SRC" ]; then
        pgvector_from=source
        for package in postgresql-server-dev-15 build-essential; do
            status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
            case "$status" in
                *"install ok installed"*) ;;
                *) missing="$missing $package" ;;
            esac
        done
    else
        echo "deps: no pgvector (postgresql-15-pgvector is not in apt's sources and" \
             "PGVECTOR_SRC names no archive): the pgvector tests will be skipped" >&2
    fi
fi

if [ -z "$missing" ] && [ "$pgvector_from" != source ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "deps: missing packages:$missing${pgvector_from:+ pgvector}; run this as root" \
             "(apt-get install)" >&2
        exit 1
    fi
else
    SUDO=
fi
if [ -n "$missing" ]; then
    echo "deps: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # The Debian postgresql package would create and start a cluster of its own;
    # pairpick's tests and demo start throwaway ones instead, so skip that.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        $SUDO mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold $missing >&2
fi

if [ "$pgvector_from" = source ]; then
    # OPTFLAGS="": no -march=native, so the build runs on any machine of the
    # same architecture. Built in a temporary folder, removed after.
    echo "deps: building pgvector from $PGVECTOR_SRC" >&2
    build=$(mktemp -d "${TMPDIR:-/tmp}/pgvector-build.XXXXXX")
    trap 'rm -rf "$build"' EXIT
    tar xzf "$PGVECTOR_SRC" -C "$build"
    source_dir=$(find "$build" -mindepth 1 -maxdepth 1 -type d | head -n 1)
    pg_config=/usr/lib/postgresql/15/bin/pg_config
    make -s -C "$source_dir" PG_CONFIG="$pg_config" OPTFLAGS="" >&2
    $SUDO make -s -C "$source_dir" PG_CONFIG="$pg_config" install >&2
fi
