#!/usr/bin/env bash
# `make test-package`: the Debian package and the OCI image, built and used
# as a user would.
#
#   1. `make deb` (DEB_BUILD_OPTIONS=nocheck: `make test` runs the unit
#      tests itself), its contents and dependencies, lintian with no error
#      and no warning;
#   2. `make image`: a fresh Debian 12 minbase root from mmdebstrap with the
#      .deb installed by apt inside it (tests/package/image.sh), imported
#      with podman;
#   3. in that root (chroot, as the image's non-root user, with cron's bare
#      environment and the connection from a PGSERVICEFILE): --version, and
#      migrate + a real run against a throwaway PostgreSQL whose unix socket
#      folder is bind-mounted into the root;
#   4. the image: its entrypoint and user, --version and the same real run
#      with `podman run`, the XCom file written to /airflow/xcom. Where
#      podman cannot start containers, the image's exported root filesystem
#      is run with chroot instead, and the output says so.
#
# A step the machine cannot do at all (no mmdebstrap, no podman, no route
# to the Debian archive) prints SKIP and counts as skipped, never as passed.
# Run as root (chroot, mount). Ends with "N passed, N failed, N skipped".
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
VERSION=$(cat VERSION)
ROOTFS_TAR=build/image/rootfs.tar
ARCH=$(dpkg --print-architecture)
DEB=build/deb/pairpick_${VERSION}_${ARCH}.deb
IMAGE=localhost/pairpick:$VERSION
UID_IMAGE=10001
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-pkg.XXXXXX")
# The image's root filesystem (build/image/rootfs.tar) unpacked for chroot.
ROOTFS=$WORK/root
PASSED=0
FAILED=0
SKIPPED=0
MOUNTS=""
PAIRPICK_PGDIR=""

ok() { echo "ok   $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL $1"; FAILED=$((FAILED + 1)); }
skip() { echo "SKIP $1"; SKIPPED=$((SKIPPED + 1)); }
# check NAME COMMAND...: runs COMMAND, its output indented, and counts it.
check() {
    local name=$1
    shift
    if "$@" >"$WORK/out" 2>&1; then
        ok "$name"
    else
        fail "$name"
        sed 's/^/    | /' "$WORK/out"
        return 1
    fi
}

# Unmounts first; removes $WORK only when nothing of the host is still
# mounted inside it.
cleanup() {
    local m
    for m in $MOUNTS; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
    [ -n "$PAIRPICK_PGDIR" ] && tests/tools/pg.sh stop "$PAIRPICK_PGDIR"
    if grep -q " $WORK/" /proc/mounts; then
        echo "test-package: $WORK still has mounts; left in place" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT INT TERM

[ "$(id -u)" -eq 0 ] || { echo "test-package: run as root (chroot, mount)" >&2; exit 1; }

# ---- the Debian package
build_deb() { DEB_BUILD_OPTIONS="nocheck parallel=${JOBS:-$(nproc)} ${DEB_BUILD_OPTIONS:-}" make --no-print-directory deb; }
check "make deb: $DEB" build_deb

deb_contents() {
    local listing depends
    listing=$(dpkg-deb -c "$DEB") || return 1
    for path in ./usr/bin/pairpick ./usr/share/man/man1/pairpick.1.gz \
        ./usr/share/man/man5/pairpick.yaml.5.gz ./usr/share/doc/pairpick/copyright \
        ./usr/share/doc/pairpick/changelog.gz ./usr/share/doc/pairpick/README.md.gz \
        ./usr/share/doc/pairpick/CHANGELOG.md ./usr/share/doc/pairpick/examples/example.yaml \
        ./usr/share/doc/pairpick/examples/demo-score.yaml \
        ./usr/share/doc/pairpick/examples/least_privilege.sql; do
        grep -q " $path\(\.gz\)\?$" <<<"$listing" || { echo "missing: $path"; return 1; }
    done
    [ "$(dpkg-deb -f "$DEB" Version)" = "$VERSION" ] || { echo "version $(dpkg-deb -f "$DEB" Version)"; return 1; }
    depends=$(dpkg-deb -f "$DEB" Depends)
    echo "Depends: $depends"
    for dep in libpq5 libyaml-0-2 libopenblas; do
        grep -q "$dep" <<<"$depends" || { echo "no $dep in Depends"; return 1; }
    done
}
check "the .deb holds the binary, both man pages, docs and examples; Depends from dh_shlibdeps and libopenblas0 (loaded at run time)" deb_contents

lint() {
    # lintian warns that it runs as root; its findings are the other lines.
    lintian --fail-on error,warning --info "$DEB" 2>&1 | grep -v '^running with root privileges'
    return "${PIPESTATUS[0]}"
}
if command -v lintian >/dev/null; then
    check "lintian $DEB: no errors, no warnings" lint && sed 's/^/    | /' "$WORK/out"
else
    skip "lintian: not installed (make deps-test installs it)"
fi

# ---- the root and the image
image_mode=""
if ! command -v mmdebstrap >/dev/null; then
    skip "make image: mmdebstrap is missing (make deps-test installs it)"
elif ! getent hosts deb.debian.org >/dev/null; then
    skip "make image: the Debian archive (deb.debian.org) cannot be resolved"
elif ! command -v podman >/dev/null; then
    skip "make image: podman is missing; the root alone is built for the chroot test"
    check "the Debian 12 root with the .deb installed by apt (mmdebstrap)" \
        tests/package/image.sh "$DEB" "$VERSION" "${PACKAGE_CACHE:-build/cache/apt}" --rootfs-only \
        && image_mode=rootfs
else
    check "make image: $IMAGE (mmdebstrap root, the .deb installed by apt, podman import)" \
        make --no-print-directory image && image_mode=podman
fi
grep -E '^image:|^I: success' "$WORK/out" 2>/dev/null | sed 's/^/    | /'

json_field() { # file key
    psql -X -At -v ON_ERROR_STOP=1 -v line="$(tail -n 1 "$1")" -v key="$2" \
        <<<"SELECT (:'line'::json) ->> :'key';"
}

if [ -n "$image_mode" ] && [ -f "$ROOTFS_TAR" ]; then
    mkdir -p "$ROOTFS"
    tar -x -f "$ROOTFS_TAR" -C "$ROOTFS"
    eval "$(tests/tools/pg.sh start)"
    psql -X -q -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
CREATE TABLE public.images (job_uuid uuid PRIMARY KEY, score float8, created_at timestamptz);
INSERT INTO public.images
SELECT md5(i::text)::uuid, (i % 97) / 20.0, now() - i * interval '1 minute'
FROM generate_series(1, 400) AS i;
SQL
    # The job as an operator writes it: the connection named by a service
    # in a PGSERVICEFILE, nothing from the environment.
    mkdir -p "$WORK/etc"
    cat >"$WORK/etc/pg_service.conf" <<EOF
[pairpick]
host=$PGHOST
port=$PGPORT
dbname=$PGDATABASE
user=$PGUSER
EOF
    write_job() { # job max_pairs
        cat >"$WORK/etc/$1.yaml" <<EOF
job: $1
database:
  conninfo: "service=pairpick"
source:
  table: public.images
  id: job_uuid
  score: score
  date: created_at
strategy:
  by: score
  bins: 4
  max_pairs: $2
  seed: 7
output:
  table: pending_annotation_pairs
EOF
    }
    write_job package-chroot 50
    write_job package-image 40
    chmod -R a+rX "$WORK/etc"

    # The root: the socket folder at the same path, the job files under /tmp.
    mkdir -p "$ROOTFS$PGHOST" "$ROOTFS/tmp/pairpick-test"
    mount --bind "$PGHOST" "$ROOTFS$PGHOST" && MOUNTS="$ROOTFS$PGHOST $MOUNTS"
    cp "$WORK"/etc/* "$ROOTFS/tmp/pairpick-test/"
    chmod 0755 "$ROOTFS/tmp/pairpick-test"
    # As cron runs a job: its PATH, no PG* variables, the image's user.
    in_root() {
        chroot --userspec="$UID_IMAGE:$UID_IMAGE" "$ROOTFS" env -i PATH=/usr/bin:/bin \
            HOME=/home/pairpick PGSERVICEFILE=/tmp/pairpick-test/pg_service.conf "$@"
    }

    root_version() { [ "$(in_root /usr/bin/pairpick --version)" = "pairpick $VERSION" ]; }
    check "chroot: pairpick --version prints 'pairpick $VERSION' (user $UID_IMAGE)" root_version

    root_docs() {
        [ -f "$ROOTFS/usr/share/man/man1/pairpick.1.gz" ] \
            && [ -f "$ROOTFS/usr/share/doc/pairpick/examples/example.yaml" ] \
            && zcat "$ROOTFS/usr/share/man/man1/pairpick.1.gz" | grep -q "^\.Os pairpick $VERSION\$" \
            && [ "$(chroot "$ROOTFS" id -u pairpick)" = "$UID_IMAGE" ]
    }
    check "chroot: man pages (footer 'pairpick $VERSION'), examples, user pairpick ($UID_IMAGE)" root_docs

    root_run() {
        in_root /usr/bin/pairpick migrate /tmp/pairpick-test/package-chroot.yaml || return 1
        in_root /usr/bin/pairpick run /tmp/pairpick-test/package-chroot.yaml --run-id chroot-1 \
            --log-format json >"$WORK/run.json" || { cat "$WORK/run.json"; return 1; }
        cat "$WORK/run.json"
        [ "$(json_field "$WORK/run.json" status)" = succeeded ] \
            && [ "$(json_field "$WORK/run.json" pairs_inserted)" = 50 ] \
            && [ "$(psql -X -At -c "SELECT count(*) FROM pending_annotation_pairs WHERE run_id = 'chroot-1'")" = 50 ]
    }
    check "chroot: migrate and run against PostgreSQL through the bind-mounted socket: 50 pairs stored" root_run
    umount "$ROOTFS$PGHOST" && MOUNTS=""

    if [ "$image_mode" = podman ]; then
        image_config() {
            podman image inspect --format '{{json .Config.Entrypoint}} {{.Config.User}}' "$IMAGE" \
                | tee /dev/stderr | grep -qx "\[\"/usr/bin/pairpick\"\] $UID_IMAGE:$UID_IMAGE"
        }
        check "image: entrypoint /usr/bin/pairpick, user $UID_IMAGE:$UID_IMAGE" image_config

        # Plain `podman run` first. Some hosts refuse what it asks of the
        # kernel (here: raising RLIMIT_NOFILE/NPROC without CAP_SYS_RESOURCE,
        # crun on a hybrid cgroup hierarchy); then runc and limits below the
        # host's. If neither starts, the image's exported root runs in chroot.
        runner=""
        if podman run --rm "$IMAGE" --version >"$WORK/out" 2>&1; then
            runner="podman run"
            PODMAN_FLAGS=()
        else
            sed 's/^/    | podman run: /' "$WORK/out"
            PODMAN_FLAGS=(--runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
            if podman run --rm "${PODMAN_FLAGS[@]}" "$IMAGE" --version >"$WORK/out" 2>&1; then
                runner="podman run ${PODMAN_FLAGS[*]}"
            else
                sed 's/^/    | podman run (runc): /' "$WORK/out"
            fi
        fi
        mkdir -p "$WORK/xcom"
        chmod 0777 "$WORK/xcom"   # as Kubernetes' emptyDir for the XCom sidecar
        if [ -n "$runner" ]; then
            echo "    | the image runs with: $runner"
            image_run() { # args...
                podman run --rm "${PODMAN_FLAGS[@]}" -v "$PGHOST:$PGHOST" \
                    -v "$WORK/etc:/etc/pairpick:ro" -v "$WORK/xcom:/airflow/xcom" \
                    -e PGSERVICEFILE=/etc/pairpick/pg_service.conf "$IMAGE" "$@"
            }
            image_id() { podman run --rm "${PODMAN_FLAGS[@]}" --entrypoint /usr/bin/id "$IMAGE" -u; }
        else
            echo "    | podman cannot start containers here: the image's root filesystem runs with chroot"
            image_root=$WORK/image-root
            mkdir -p "$image_root"
            container=$(podman create "$IMAGE") \
                && podman export "$container" | tar -x -C "$image_root" \
                && podman rm "$container" >/dev/null
            mkdir -p "$image_root$PGHOST" "$image_root/etc/pairpick" "$image_root/airflow/xcom"
            mount --bind "$PGHOST" "$image_root$PGHOST" && MOUNTS="$image_root$PGHOST $MOUNTS"
            mount --bind "$WORK/etc" "$image_root/etc/pairpick" && MOUNTS="$image_root/etc/pairpick $MOUNTS"
            mount --bind "$WORK/xcom" "$image_root/airflow/xcom" && MOUNTS="$image_root/airflow/xcom $MOUNTS"
            image_run() {
                chroot --userspec="$UID_IMAGE:$UID_IMAGE" "$image_root" env -i PATH=/usr/bin:/bin \
                    HOME=/home/pairpick PGSERVICEFILE=/etc/pairpick/pg_service.conf /usr/bin/pairpick "$@"
            }
            image_id() { chroot --userspec="$UID_IMAGE:$UID_IMAGE" "$image_root" /usr/bin/id -u; }
        fi

        image_version() { [ "$(image_run --version)" = "pairpick $VERSION" ] && [ "$(image_id)" = "$UID_IMAGE" ]; }
        check "image: --version prints 'pairpick $VERSION', as uid $UID_IMAGE" image_version

        image_job() {
            image_run run /etc/pairpick/package-image.yaml --run-id image-1 \
                --xcom-file /airflow/xcom/return.json --log-format json >"$WORK/run.json" \
                || { cat "$WORK/run.json"; return 1; }
            cat "$WORK/xcom/return.json"; echo
            [ "$(json_field "$WORK/xcom/return.json" status)" = succeeded ] \
                && [ "$(json_field "$WORK/xcom/return.json" pairs_inserted)" = 40 ] \
                && [ "$(psql -X -At -c "SELECT count(*) FROM pending_annotation_pairs WHERE run_id = 'image-1'")" = 40 ]
        }
        check "image: a real run, summary in /airflow/xcom/return.json: 40 pairs stored" image_job
    fi
fi

echo
echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
