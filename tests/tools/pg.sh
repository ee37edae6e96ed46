#!/bin/sh
# A throwaway PostgreSQL 15 cluster for tests and the demo: initdb in a fresh
# temporary folder, a unix socket in that folder, no TCP listener (so no port
# can clash), removed by `stop`.
#
#   eval "$(tests/tools/pg.sh start)"   # sets PGHOST PGPORT PGUSER PGDATABASE PAIRPICK_PGDIR
#   tests/tools/pg.sh stop "$PAIRPICK_PGDIR"
#
# With PAIRPICK_PG_COPY naming the data directory of a cluster that
# `pg.sh halt DIR` stopped cleanly, start copies it instead of running
# initdb (tests/integration/all.sh: one cluster loaded with the demo images
# for every suite).
#
# initdb and postgres refuse to run as root; as root they run as the
# postgres user on a folder it owns.
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "${1:-}" in
start)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/pairpick-pg.XXXXXX")
    chmod 755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
    fi
    if [ -n "${PAIRPICK_PG_COPY:-}" ]; then
        # A copy of a cluster stopped cleanly (pg.sh halt): no initdb.
        as_owner cp -a "$PAIRPICK_PG_COPY" "$dir/data" || exit 1
    else
        as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c port=5432 \
            -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=100 -c shared_buffers=256MB" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "export PGHOST='$dir' PGPORT=5432 PGUSER=postgres PGDATABASE=postgres PAIRPICK_PGDIR='$dir'"
    ;;
halt)
    # Stops the server cleanly and keeps the folder: its data directory can
    # then be copied (PAIRPICK_PG_COPY) by later starts.
    dir=${2:?usage: pg.sh halt DIR}
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
stop)
    dir=${2:?usage: pg.sh stop DIR}
    case "$dir" in
        */pairpick-pg.*) ;;
        *) echo "pg.sh: refusing to remove '$dir'" >&2; exit 1 ;;
    esac
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg.sh start | halt DIR | stop DIR" >&2
    exit 64
    ;;
esac
