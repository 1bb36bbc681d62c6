# Source this file: starts a throwaway PostgreSQL server for the test run.
#   source .ci/postgres.sh && pg_start     exports MARIANNE_TEST_POSTGRES_URL
#   pg_stop                                stops it and removes its data folder
# The server refuses to run as root, so it runs as the unprivileged `postgres` user,
# listening only on a Unix socket inside its own temporary folder.

pg_bin_dir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$dir" ]; then
        echo "PostgreSQL server not found; installing Debian's postgresql" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    echo "$dir"
}

pg_start() {
    local bin user
    bin=$(pg_bin_dir)
    user=postgres
    id "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"
    PG_TMP=$(mktemp -d /tmp/marianne-pg.XXXXXX)
    chown "$user" "$PG_TMP"
    chmod 700 "$PG_TMP"
    run_as() { if [ "$(id -u)" = 0 ]; then su -s /bin/sh "$user" -c "$*"; else sh -c "$*"; fi; }
    run_as "'$bin/initdb' -D '$PG_TMP/data' -U postgres --auth=trust --locale=C.UTF-8 -E UTF8" >/dev/null
    run_as "'$bin/pg_ctl' -D '$PG_TMP/data' -l '$PG_TMP/log' -w -o \"-c listen_addresses='' -c unix_socket_directories='$PG_TMP' -c fsync=off -c synchronous_commit=off -c full_page_writes=off\" start" >/dev/null
    export PG_TMP PG_BIN="$bin"
    export MARIANNE_TEST_POSTGRES_URL="postgresql+psycopg://postgres@/postgres?host=$PG_TMP"
    echo "PostgreSQL running in $PG_TMP" >&2
}

pg_stop() {
    [ -n "${PG_TMP:-}" ] || return 0
    if [ "$(id -u)" = 0 ]; then
        su -s /bin/sh postgres -c "'$PG_BIN/pg_ctl' -D '$PG_TMP/data' -m fast -w stop" >/dev/null 2>&1 || true
    else
        "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_TMP"
}
