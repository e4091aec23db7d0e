#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the tests and print its URL on stdout (logs on stderr).
#
#   export SWITCHBOARD_TEST_POSTGRES_URL="$(.ci/postgres.sh)"
#   .ci/postgres.sh --stop "$SWITCHBOARD_TEST_POSTGRES_URL"   # stop that cluster, remove its files
#
# Installs the Debian package when missing (as root), makes a cluster in a temp directory owned by
# the `postgres` user (initdb refuses root), with trust auth on a free loopback port. Running it
# again starts another cluster; stop one with `pg_ctl -D DIR stop` (DIR is logged).
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

BIN="$(find_bin)"
RUN_AS=()
if [[ "$(id -u)" == "0" ]]; then
  RUN_AS=(runuser -u postgres --)
fi

if [[ "${1:-}" == "--stop" ]]; then
  port="${2##*:}"
  port="${port%%/*}"
  for dir in /tmp/switchboard-pg.*; do
    if [[ -f "$dir/postmaster.pid" && "$(sed -n 4p "$dir/postmaster.pid")" == "$port" ]]; then
      "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$dir" -m fast -w stop >&2
      rm -rf "$dir"
      log "stopped the cluster on port $port"
    fi
  done
  exit 0
fi

if [[ -z "$BIN" || ! -x "$BIN/initdb" ]]; then
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN="$(find_bin)"
fi

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
DIR="$(mktemp -d /tmp/switchboard-pg.XXXXXX)"
if [[ "$(id -u)" == "0" ]]; then
  chown postgres:postgres "$DIR"
fi
USER_NAME="switchboard"

log "initdb in $DIR"
"${RUN_AS[@]}" "$BIN/initdb" -D "$DIR" -U "$USER_NAME" --auth=trust -E UTF8 --no-sync >&2
"${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >&2
log "running on 127.0.0.1:$PORT (stop: ${RUN_AS[*]} $BIN/pg_ctl -D $DIR stop)"
echo "postgresql://$USER_NAME@127.0.0.1:$PORT/postgres"
