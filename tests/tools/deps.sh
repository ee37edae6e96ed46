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
    # debhelper, lintian: make deb and its check (dpkg-dev and fakeroot come
    # with debhelper); mmdebstrap, podman, runc: make image and its run
    # (runc where crun cannot start containers on a hybrid cgroup host).
    packages="$packages chromium valgrind clang libclang-rt-14-dev mandoc
debhelper lintian mmdebstrap podman runc"
fi

missing=""
for package in $packages; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $package" ;;
    esac
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "deps: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "deps: missing packages:$missing; run this as root (apt-get install)" >&2
        exit 1
    fi
else
    SUDO=
fi
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
