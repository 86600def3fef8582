#!/bin/sh
# A throwaway PostgreSQL cluster for the tests of the PostgreSQL store.
#
# usage: tests/pg/cluster.sh start DIR   initdb into DIR/data, start the server
#                                        (log in DIR/log) and print
#                                        CASEFLOW_PG_URI=... on stdout
#        tests/pg/cluster.sh stop DIR    stop it (immediately) and remove DIR
#        tests/pg/cluster.sh restart DIR stop it as a crash would (immediate:
#                                        no checkpoint, clients cut off) and
#                                        start it again on the same socket
#
# The server listens on a unix socket in DIR only (listen_addresses=''), so
# no TCP port is opened; the port number only names the socket file. It runs
# without fsync, as the superuser caseflow_admin with trust authentication:
# for tests, never for data. As root, initdb and the server run as nobody
# (PostgreSQL refuses root), and DIR is handed to nobody. The caller must run
# `stop` from an EXIT trap: a failed `start` stops what it started, but only
# `stop` removes DIR. Exits 77 (skip) when no PostgreSQL server is installed.
# CF_PG_BINDIR names the server's bin directory (default: the newest
# /usr/lib/postgresql/*/bin, Debian's place, else initdb on PATH).
set -eu

die() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 start|stop|restart DIR"
cmd=$1
DIR=$2

# The directory goes into pg_ctl's command line and a URI unquoted: keep it
# plain. A unix socket path is limited to 107 bytes, with /.s.PGSQL.NNNNN.
case "$DIR" in
/*) ;;
*) die "DIR must be an absolute path: $DIR" ;;
esac
case "$DIR" in
*[!A-Za-z0-9/._-]*) die "DIR may hold only letters, digits and / . _ -: $DIR" ;;
esac
[ ${#DIR} -le 80 ] || die "DIR is too long for a unix socket path: $DIR"

bindir() {
    if [ -n "${CF_PG_BINDIR:-}" ]; then
        echo "$CF_PG_BINDIR"
        return
    fi
    # The newest version first: sort the version directories numerically.
    best=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null |
        awk -F/ '{ print $5 "\t" $0 }' | sort -t "$(printf '\t')" -k1,1n | tail -1 | cut -f2)
    if [ -n "$best" ] && [ -x "$best/initdb" ]; then
        echo "$best"
        return
    fi
    p=$(command -v initdb 2>/dev/null || true)
    [ -n "$p" ] && dirname "$p"
    return 0
}

# Run a server program, as nobody when we are root.
if [ "$(id -u)" -eq 0 ]; then
    if command -v runuser >/dev/null 2>&1; then
        as_pg() { runuser -u nobody -- "$@"; }
    elif command -v setpriv >/dev/null 2>&1; then
        as_pg() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$@"; }
    else
        die "running as root, but neither runuser nor setpriv is there to drop to nobody"
    fi
else
    as_pg() { "$@"; }
fi

stop() {
    BIN=$(bindir)
    if [ -f "$DIR/data/postmaster.pid" ] && [ -n "$BIN" ]; then
        as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    # pg_ctl could not stop it (or is gone): end the postmaster itself. Its
    # process id is the first line of postmaster.pid.
    if [ -f "$DIR/data/postmaster.pid" ]; then
        pid=$(head -1 "$DIR/data/postmaster.pid" 2>/dev/null || true)
        case "$pid" in
        '' | *[!0-9]*) ;;
        *) kill -KILL "$pid" 2>/dev/null || true ;;
        esac
    fi
    # Only a directory start made (or an empty one) is removed: a wrong
    # argument must not cost anyone their files.
    if [ -f "$DIR/.caseflow-pg-cluster" ] || [ -z "$(ls -A "$DIR" 2>/dev/null)" ]; then
        rm -rf "$DIR"
    elif [ -e "$DIR" ]; then
        die "$DIR was not made by '$0 start': not removing it"
    fi
}

start() {
    BIN=$(bindir)
    if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/pg_ctl" ]; then
        echo "cluster.sh: no PostgreSQL server installed (initdb, pg_ctl); skipping" >&2
        exit 77
    fi
    mkdir -p "$DIR"
    [ -z "$(ls -A "$DIR")" ] || die "$DIR is not empty"
    chmod 700 "$DIR"
    : >"$DIR/.caseflow-pg-cluster"
    if [ "$(id -u)" -eq 0 ]; then
        chown nobody "$DIR"
        as_pg test -w "$DIR" ||
            die "nobody cannot write to $DIR (is a parent directory closed to it?)"
    fi
    # The server programs must not start in a directory nobody cannot read.
    cd "$DIR"
    as_pg "$BIN/initdb" --no-sync -A trust -U caseflow_admin --encoding=UTF8 --locale=C \
        -D "$DIR/data" >"$DIR/initdb.log" 2>&1 ||
        { tail -20 "$DIR/initdb.log" >&2; die "initdb failed (see above)"; }

    # No TCP at all, so the port needs no probing: it names the socket file,
    # alone in DIR. Retry with another number should the start fail anyway.
    tries=0
    while :; do
        tries=$((tries + 1))
        port=$(($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40001 + 20000))
        if as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 30 \
            -o "-k $DIR -p $port -c listen_addresses='' -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=100" \
            start >/dev/null 2>&1; then
            break
        fi
        # A start that timed out may have left a server behind.
        as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
        if [ "$tries" -ge 3 ]; then
            [ -f "$DIR/log" ] && tail -20 "$DIR/log" >&2
            die "the server did not start (log: $DIR/log)"
        fi
    done
    echo "CASEFLOW_PG_URI=postgresql://caseflow_admin@/postgres?host=$DIR&port=$port"
}

restart() {
    BIN=$(bindir)
    [ -f "$DIR/.caseflow-pg-cluster" ] || die "$DIR was not made by '$0 start'"
    # pg_ctl restart starts it with the options it last ran with (the same
    # socket directory and port), after recovery from the immediate stop.
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -m immediate -w -t 30 restart \
        >/dev/null 2>&1 || die "the server did not restart (log: $DIR/log)"
}

case "$cmd" in
start) start ;;
stop) stop ;;
restart) restart ;;
*) die "usage: $0 start|stop|restart DIR" ;;
esac
