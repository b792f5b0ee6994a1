#!/usr/bin/env bash
# ensure-services.sh makes sure the PostgreSQL, Redis and ClickHouse servers
# that the tests talk to are reachable, and a Docker daemon for the container
# image test, starting (or, as root, installing) them when they are not.
#
# Why a script and not a compose file: dev machines and CI have no Docker, but
# they are Debian boxes on which we are usually root, so the Debian packages
# and a throwaway cluster are the most reliable way to get real services.
#
# Inputs (environment):
#   KEYLINE_TEST_POSTGRES_URL  default postgres://postgres@127.0.0.1:5432/test?sslmode=disable
#   KEYLINE_TEST_REDIS_URL     default redis://127.0.0.1:6379/0
#   KEYLINE_TEST_CLICKHOUSE_URL default clickhouse://127.0.0.1:9000/default
#
# It also makes sure the `prometheus` binary is installed (the metrics test
# starts its own throwaway server; nothing is started here), and Debian's
# `chromium` plus the pinned npm package playwright-core for the browser
# tests (npm ci into the user cache dir; nothing is started either).
#
# Output: one "<service>: ok (...)" line per service on stdout; progress and
# installer noise go to stderr. Exit status is non-zero if a service could not
# be made reachable.
#
# Everything this script creates lives under ${TMPDIR:-/tmp}/keyline-testenv
# (never in the repository), so it can be re-run any number of times: when the
# services already run it only probes them (well under a second).
set -euo pipefail

PG_URL="${KEYLINE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
REDIS_URL="${KEYLINE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
CH_URL="${KEYLINE_TEST_CLICKHOUSE_URL:-clickhouse://127.0.0.1:9000/default}"
STATE_DIR="${TMPDIR:-/tmp}/keyline-testenv"

# How long to wait for a freshly started server before giving up.
START_TIMEOUT_S=30

log() { printf '%s\n' "$*" >&2; }
die() { printf 'ensure-services: %s\n' "$*" >&2; exit 1; }
is_root() { [[ "$(id -u)" -eq 0 ]]; }

# is_local_host reports whether we are allowed to start a server for HOST:
# starting a local daemon cannot make a remote host reachable.
is_local_host() {
  case "$1" in
    ''|127.0.0.1|localhost|::1) return 0 ;;
    *) return 1 ;;
  esac
}

# apt_install installs Debian packages, running `apt-get update` at most once
# per invocation (the package lists of a fresh machine may be missing/stale).
APT_UPDATED=0
apt_install() {
  is_root || return 1
  command -v apt-get >/dev/null 2>&1 || return 1
  export DEBIAN_FRONTEND=noninteractive
  if [[ "$APT_UPDATED" -eq 0 ]]; then
    log "apt-get update"
    apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  apt-get install -y -qq "$@" >&2 9>&-
}

# take_lock serialises the slow "start something" paths of concurrent runs
# (two `make test` in parallel terminals must not both run initdb). The fast
# "already running" path never takes it.
LOCKED=0
take_lock() {
  [[ "$LOCKED" -eq 1 ]] && return 0
  mkdir -p "$STATE_DIR"
  chmod 755 "$STATE_DIR"
  if command -v flock >/dev/null 2>&1; then
    # Daemons we start get "9>&-": an inherited lock fd would keep the lock
    # held for the daemon's lifetime.
    exec 9>"$STATE_DIR/lock"
    flock -w 300 9 || die "timed out waiting for $STATE_DIR/lock"
  fi
  LOCKED=1
}

# parse_url URL DEFAULT_PORT sets U_SCHEME U_AUTHORITY U_USER U_PASS U_HOST
# U_PORT U_PATH U_QUERY (U_QUERY includes the leading '?'; U_PASS is set only
# when the URL has "user:password@"). Percent-encoding is not decoded: test
# URLs are plain.
parse_url() {
  local url="$1" default_port="$2" rest hostport
  U_SCHEME="${url%%://*}"
  rest="${url#*://}"
  U_AUTHORITY="${rest%%[/?]*}"
  rest="${rest#"$U_AUTHORITY"}"
  U_PATH="${rest%%\?*}"
  U_QUERY="${rest#"$U_PATH"}"
  U_USER=""
  U_PASS=""
  hostport="$U_AUTHORITY"
  if [[ "$U_AUTHORITY" == *@* ]]; then
    local userinfo="${U_AUTHORITY%@*}"
    U_USER="${userinfo%%:*}"
    [[ "$userinfo" == *:* ]] && U_PASS="${userinfo#*:}"
    hostport="${U_AUTHORITY##*@}"
  fi
  if [[ "$hostport" =~ ^\[([^]]*)\](:([0-9]+))?$ ]]; then # [ipv6]:port
    U_HOST="${BASH_REMATCH[1]}"
    U_PORT="${BASH_REMATCH[3]}"
  elif [[ "$hostport" == *:* ]]; then
    U_HOST="${hostport%%:*}"
    U_PORT="${hostport##*:}"
  else
    U_HOST="$hostport"
    U_PORT=""
  fi
  [[ -n "$U_HOST" ]] || U_HOST=127.0.0.1
  [[ -n "$U_PORT" ]] || U_PORT="$default_port"
}

# redact URL: the URL with its password masked, for messages.
redact() {
  if [[ "$1" =~ ^([^:/]+://[^:@/]*):[^@/]*@(.*)$ ]]; then
    printf '%s:xxxxx@%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  else
    printf '%s\n' "$1"
  fi
}

# tcp_open HOST PORT: a dependency-free reachability probe.
tcp_open() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_until SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

###############################################################################
# PostgreSQL
###############################################################################

parse_url "$PG_URL" 5432
PG_USER="${U_USER:-postgres}"
PG_HOST="$U_HOST"
PG_PORT="$U_PORT"
PG_DB="${U_PATH#/}"
[[ -n "$PG_DB" ]] || PG_DB="$PG_USER" # libpq's default database is the user name
# Same server and credentials, maintenance database: used to CREATE DATABASE.
PG_ADMIN_URL="${U_SCHEME}://${U_AUTHORITY}/postgres${U_QUERY}"

# pg_bindir prints the newest PostgreSQL server bin dir (Debian layout), if any.
pg_bindir() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" ]] && best="$d"
  done
  [[ -n "$best" ]] || return 1
  printf '%s\n' "$best"
}

# psql may be missing while server binaries are present; those ship a psql too.
if ! command -v psql >/dev/null 2>&1 && bindir="$(pg_bindir)"; then
  PATH="$PATH:$bindir"
fi

# psql always gets -w: a password prompt would hang an interactive run.
# pg_check: 0 = the URL works, 2 = the server answers but the database is
# missing, 1 = not usable (down, refused, auth failure, ...).
pg_check() {
  if ! command -v psql >/dev/null 2>&1; then
    # Without a client we can only see whether something listens.
    tcp_open "$PG_HOST" "$PG_PORT" && return 0 || return 1
  fi
  local out
  if out="$(PGCONNECT_TIMEOUT=2 psql -w "$PG_URL" -XAtqc 'select 1' 2>&1)"; then
    return 0
  fi
  if [[ "$out" == *"database \"$PG_DB\" does not exist"* ]]; then
    return 2
  fi
  PG_LAST_ERROR="$out"
  return 1
}

# pg_accepting: the server is up (says nothing about auth or the database).
pg_accepting() {
  if command -v pg_isready >/dev/null 2>&1; then
    # -d with the URL (not -h/-p) so the probe uses the test role and does not
    # leave 'role "root" does not exist' noise in the server log.
    pg_isready -q -d "$PG_URL" -t 1
  else
    tcp_open "$PG_HOST" "$PG_PORT"
  fi
}

pg_create_db() {
  log "postgres: creating database $PG_DB"
  # The quoting makes names like "test-db" work; the race with a concurrent
  # creator is harmless, hence the re-check.
  PGCONNECT_TIMEOUT=2 psql -w "$PG_ADMIN_URL" -Xqc "CREATE DATABASE \"${PG_DB//\"/\"\"}\"" >&2 || pg_check
}

# pg_finish turns a just-reachable server into a usable one (database exists)
# and prints the status line. Returns 1 if the URL still does not work.
pg_finish() {
  local how="$1" rc=0
  pg_check || rc=$?
  if [[ $rc -eq 2 ]]; then
    pg_create_db
    how="$how; created database $PG_DB"
    rc=0
    pg_check || rc=$?
  fi
  [[ $rc -eq 0 ]] || return 1
  echo "postgres: ok ($how)"
}

# pg_try_debian_cluster starts a stopped Debian cluster that listens on the
# URL's port (the normal setup of our machines). If starting it does not give
# a usable server (say, its pg_hba.conf wants passwords) it is stopped again so
# the throwaway cluster can take the port.
pg_try_debian_cluster() {
  command -v pg_lsclusters >/dev/null 2>&1 || return 1
  local line ver name port status _rest
  local -a clusters=()
  # Read the list up front: the loop body runs commands that must not share
  # the list's stdin.
  mapfile -t clusters < <(pg_lsclusters -h 2>/dev/null)
  for line in "${clusters[@]}"; do
    read -r ver name port status _rest <<<"$line"
    [[ "$port" == "$PG_PORT" ]] || continue
    if [[ "$status" == online* ]]; then
      # It runs on our port, yet pg_check failed: nothing to start.
      return 1
    fi
    log "postgres: starting Debian cluster $ver/$name"
    if pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 9>&- &&
       wait_until "$START_TIMEOUT_S" pg_accepting &&
       pg_finish "started Debian cluster $ver/$name"; then
      return 0
    fi
    log "postgres: Debian cluster $ver/$name is not usable with $(redact "$PG_URL") (${PG_LAST_ERROR:-no details}); stopping it again"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" stop >&2 || true
    return 1
  done
  return 1
}

# as_pg runs a command as the `postgres` OS user when we are root, because the
# server refuses to run as root.
as_pg() {
  if ! is_root; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
  fi
}

# pg_start_throwaway runs initdb (once) and pg_ctl on the URL's port, with
# trust auth and durability switched off: it only ever holds test data.
pg_start_throwaway() {
  local bindir dir data d
  bindir="$(pg_bindir)" || return 1
  dir="$STATE_DIR/pg/$PG_PORT"
  data="$dir/data"
  mkdir -p "$dir"
  if is_root; then
    getent passwd postgres >/dev/null ||
      useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    chown postgres: "$dir"
    # The postgres user must be able to reach its directory; e.g. TMPDIR under
    # /root is not traversable by default. Walk top-down so that each test
    # only fails for the directory that really lacks the bit.
    d=""
    local part
    local -a parts
    IFS=/ read -r -a parts <<<"${dir#/}"
    for part in "${parts[@]}"; do
      d="$d/$part"
      as_pg test -x "$d" || { log "postgres: chmod o+x $d"; chmod o+x "$d"; }
    done
  fi
  chmod 700 "$dir"
  if pg_throwaway_start "$bindir" "$dir"; then
    pg_finish "started throwaway cluster in $data"
    return
  fi
  # The data only ever holds test databases, so a cluster that will not start
  # (a stale postmaster.pid whose PID was reused, a crash mid-initdb, ...) is
  # simply recreated once.
  log "postgres: recreating the throwaway cluster in $data"
  as_pg "$bindir/pg_ctl" -D "$data" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$data"
  pg_throwaway_start "$bindir" "$dir" &&
    pg_finish "recreated throwaway cluster in $data"
}

# pg_throwaway_start BINDIR DIR: initdb DIR/data if needed, then start it and
# wait until it accepts connections.
pg_throwaway_start() {
  local bindir="$1" dir="$2" data="$2/data"
  if [[ ! -f "$data/PG_VERSION" ]]; then
    log "postgres: initdb $data"
    as_pg "$bindir/initdb" -D "$data" -U "$PG_USER" --auth=trust \
      --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; return 1; }
  fi
  log "postgres: starting throwaway cluster in $data on $PG_HOST:$PG_PORT"
  as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t "$START_TIMEOUT_S" \
    -o "-c listen_addresses='$PG_HOST' -p $PG_PORT -k '$dir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >&2 9>&- || { tail -n 20 "$dir/server.log" >&2 || true; return 1; }
  wait_until "$START_TIMEOUT_S" pg_accepting
}

ensure_postgres() {
  local rc=0
  pg_check || rc=$?
  case $rc in
    0) echo "postgres: ok (already running)"; return 0 ;;
    2) pg_finish "already running" || die "postgres: could not create database $PG_DB"; return 0 ;;
  esac
  if pg_accepting; then
    die "postgres: a server answers on $PG_HOST:$PG_PORT but $(redact "$PG_URL") does not work: ${PG_LAST_ERROR:-unknown error}"
  fi
  is_local_host "$PG_HOST" || die "postgres: $PG_HOST:$PG_PORT is unreachable and not local; not starting anything"

  take_lock
  # Another run may have started it while we waited for the lock.
  rc=0; pg_check || rc=$?
  if [[ $rc -ne 1 ]]; then
    pg_finish "started concurrently" || die "postgres: could not create database $PG_DB"
    return 0
  fi

  pg_try_debian_cluster && return 0
  if ! pg_bindir >/dev/null; then
    apt_install postgresql || die "postgres: not reachable and no server binaries (install postgresql, or run as root)"
    hash -r
    command -v psql >/dev/null 2>&1 || PATH="$PATH:$(pg_bindir)"
    # The package creates and may start its own cluster.
    rc=0; pg_check || rc=$?
    if [[ $rc -ne 1 ]]; then
      pg_finish "installed postgresql" || die "postgres: could not create database $PG_DB"
      return 0
    fi
    pg_try_debian_cluster && return 0
  fi
  pg_start_throwaway || die "postgres: could not start a server for $(redact "$PG_URL")"
}

###############################################################################
# Redis
###############################################################################

parse_url "$REDIS_URL" 6379
REDIS_HOST="$U_HOST"
REDIS_PORT="$U_PORT"
REDIS_DB="${U_PATH#/}"
REDIS_USER="$U_USER"
REDIS_PASS="$U_PASS"

redis_ping() {
  if command -v redis-cli >/dev/null 2>&1; then
    # Explicit flags rather than -u: redis-cli 7.0 ignores the password of
    # the common "redis://:password@host" form. The password goes through
    # the environment, not the process list.
    local -a args=(-h "$REDIS_HOST" -p "$REDIS_PORT")
    [[ -n "$REDIS_DB" ]] && args+=(-n "$REDIS_DB")
    [[ -n "$REDIS_USER" && -n "$REDIS_PASS" ]] && args+=(--user "$REDIS_USER")
    [[ "$(REDISCLI_AUTH="$REDIS_PASS" timeout 2 redis-cli "${args[@]}" ping 2>/dev/null)" == PONG ]]
  else
    # Inline-command PING over bash's /dev/tcp; good enough without AUTH
    # (redis-cli comes with redis-server, so this is a rare fallback).
    timeout 2 bash -c '
      exec 3<>"/dev/tcp/$1/$2" || exit 1
      printf "PING\r\n" >&3
      IFS= read -r line <&3
      [[ "$line" == +PONG* ]]' _ "$REDIS_HOST" "$REDIS_PORT" 2>/dev/null
  fi
}

ensure_redis() {
  if redis_ping; then
    echo "redis: ok (already running)"
    return 0
  fi
  if tcp_open "$REDIS_HOST" "$REDIS_PORT"; then
    die "redis: something listens on $REDIS_HOST:$REDIS_PORT but does not answer PING for $(redact "$REDIS_URL")"
  fi
  is_local_host "$REDIS_HOST" || die "redis: $REDIS_HOST:$REDIS_PORT is unreachable and not local; not starting anything"

  take_lock
  redis_ping && { echo "redis: ok (started concurrently)"; return 0; }

  local how="started"
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server || die "redis: not reachable and redis-server missing (install redis-server, or run as root)"
    hash -r
    # The package may have started its own server on the default port.
    if wait_until 3 redis_ping; then
      echo "redis: ok (installed redis-server)"
      return 0
    fi
    how="installed and started"
  fi
  local dir="$STATE_DIR/redis/$REDIS_PORT"
  mkdir -p "$dir"
  log "redis: starting redis-server on port $REDIS_PORT"
  # --dir/--logfile/--pidfile keep every file out of the current directory
  # (the repository); "-::1" binds IPv6 only where the machine has it.
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
    --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" >&2 9>&- ||
    die "redis: redis-server failed to start (see $dir/redis.log)"
  wait_until "$START_TIMEOUT_S" redis_ping ||
    { tail -n 20 "$dir/redis.log" >&2 || true; die "redis: started but does not answer PING"; }
  echo "redis: ok ($how redis-server, files in $dir)"
}

###############################################################################

###############################################################################
# ClickHouse
###############################################################################

# The tests speak the native protocol (HTTP does not work against Debian's
# 18.16 build), so the URL names the native port.
parse_url "$CH_URL" 9000
CH_HOST="$U_HOST"
CH_PORT="$U_PORT"
CH_USER="${U_USER:-default}"
CH_PASS="$U_PASS"
CH_DB="${U_PATH#/}"
[[ -n "$CH_DB" ]] || CH_DB=default

ch_client() {
  local -a args=(--host "$CH_HOST" --port "$CH_PORT" --user "$CH_USER")
  [[ -n "$CH_PASS" ]] && args+=(--password "$CH_PASS")
  timeout 5 clickhouse-client "${args[@]}" "$@"
}

# ch_ping: the server answers a query (the client comes with the server
# package; without it, an open port is the best we can tell).
ch_ping() {
  if command -v clickhouse-client >/dev/null 2>&1; then
    [[ "$(ch_client -q 'SELECT 1' 2>/dev/null)" == 1 ]]
  else
    tcp_open "$CH_HOST" "$CH_PORT"
  fi
}

# ch_finish creates the URL's database when missing and prints the status line.
ch_finish() {
  if [[ "$CH_DB" != default ]] && command -v clickhouse-client >/dev/null 2>&1; then
    ch_client -q "CREATE DATABASE IF NOT EXISTS \`${CH_DB//\`/}\`" >&2 ||
      die "clickhouse: could not create database $CH_DB"
  fi
  echo "clickhouse: ok ($1)"
}

# ch_start_throwaway runs clickhouse-server as a daemon on a copy of the
# packaged config whose data, log and pid paths point into the state dir, so
# the test server never touches /var/lib/clickhouse.
ch_start_throwaway() {
  local dir="$STATE_DIR/clickhouse/$CH_PORT" src=/etc/clickhouse-server
  [[ -f "$src/config.xml" && -f "$src/users.xml" ]] || return 1
  mkdir -p "$dir/data" "$dir/log"
  # The listen address is the URL's host only when it is an IP literal; a
  # name such as "localhost" keeps the packaged default (loopback).
  sed -e "s#/var/lib/clickhouse/#$dir/data/#g" \
      -e "s#/var/log/clickhouse-server/#$dir/log/#g" \
      -e "s#<tcp_port>9000</tcp_port>#<tcp_port>$CH_PORT</tcp_port>#" \
      "$src/config.xml" >"$dir/config.xml"
  cp "$src/users.xml" "$dir/users.xml"
  log "clickhouse: starting clickhouse-server on port $CH_PORT (files in $dir)"
  # --daemon forks; "9>&-" keeps our lock fd out of the daemon.
  (cd "$dir" && clickhouse-server --config-file="$dir/config.xml" --pid-file="$dir/clickhouse.pid" --daemon >&2 9>&-) ||
    { tail -n 20 "$dir/log/clickhouse-server.err.log" >&2 2>/dev/null || true; return 1; }
  wait_until "$START_TIMEOUT_S" ch_ping ||
    { tail -n 20 "$dir/log/clickhouse-server.err.log" >&2 2>/dev/null || true; return 1; }
}

ensure_clickhouse() {
  if ch_ping; then
    ch_finish "already running"
    return 0
  fi
  if tcp_open "$CH_HOST" "$CH_PORT"; then
    die "clickhouse: something listens on $CH_HOST:$CH_PORT but does not answer for $(redact "$CH_URL")"
  fi
  is_local_host "$CH_HOST" || die "clickhouse: $CH_HOST:$CH_PORT is unreachable and not local; not starting anything"

  take_lock
  ch_ping && { ch_finish "started concurrently"; return 0; }

  local how="started"
  if ! command -v clickhouse-server >/dev/null 2>&1 || ! command -v clickhouse-client >/dev/null 2>&1; then
    apt_install clickhouse-server clickhouse-client ||
      die "clickhouse: not reachable and clickhouse-server missing (install clickhouse-server, or run as root)"
    hash -r
    how="installed and started"
  fi
  ch_start_throwaway || die "clickhouse: could not start a server for $(redact "$CH_URL")"
  ch_finish "$how clickhouse-server, files in $STATE_DIR/clickhouse/$CH_PORT"
}

###############################################################################
# Prometheus: only the binary. The metrics test (cmd/keyline) starts its own
# server on a temporary directory and a free port, scraping the test server.

ensure_prometheus() {
  if command -v prometheus >/dev/null 2>&1; then
    printf 'prometheus: ok (%s)\n' "$(command -v prometheus)"
    return 0
  fi
  take_lock
  # Debian's package enables and starts a system service at install: the
  # policy-rc.d answer 101 ("action forbidden") keeps it stopped, since the
  # test runs its own server and a system one would hold port 9090.
  local policy=/usr/sbin/policy-rc.d created=0
  if is_root && [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created=1
  fi
  local rc=0
  apt_install prometheus || rc=$?
  [[ "$created" -eq 1 ]] && rm -f "$policy"
  [[ "$rc" -eq 0 ]] || die "prometheus: binary missing (install Debian's prometheus, or run as root)"
  hash -r
  printf 'prometheus: ok (installed %s)\n' "$(command -v prometheus)"
}

###############################################################################
# Docker (the container image test in cmd/keyline)
###############################################################################

# docker_ping: a daemon answers the client. The legacy builder is what the
# image test uses, so any client that can talk to the daemon will do.
docker_ping() {
  command -v docker >/dev/null 2>&1 && timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# ensure_docker starts (as root: installs) a Docker daemon. Unlike the
# services above it is not fatal when there is none and we may not start one:
# the image test then skips and says why. As root it must work, so a failure
# to install or start is fatal.
ensure_docker() {
  if docker_ping; then
    echo "docker: ok (already running)"
    return 0
  fi
  if [[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != unix://* ]]; then
    echo "docker: unavailable (DOCKER_HOST=$DOCKER_HOST does not answer; not starting anything)"
    return 0
  fi
  if ! is_root; then
    echo "docker: unavailable (no daemon answers and only root may start one; the container image test will skip)"
    return 0
  fi
  take_lock
  docker_ping && { echo "docker: ok (started concurrently)"; return 0; }
  local how="started"
  if ! command -v dockerd >/dev/null 2>&1; then
    apt_install docker.io || die "docker: no daemon answers and docker.io could not be installed"
    hash -r
    # The package may have started its own daemon.
    if wait_until 10 docker_ping; then
      echo "docker: ok (installed docker.io)"
      return 0
    fi
    how="installed and started"
  fi
  local dir="$STATE_DIR/docker"
  mkdir -p "$dir"
  log "docker: starting dockerd (log in $dir/dockerd.log)"
  # setsid + nohup: the daemon outlives this script and the make run.
  setsid nohup dockerd >"$dir/dockerd.log" 2>&1 </dev/null 9>&- &
  wait_until "$START_TIMEOUT_S" docker_ping ||
    { tail -n 20 "$dir/dockerd.log" >&2 || true; die "docker: dockerd started but does not answer"; }
  echo "docker: ok ($how dockerd, log in $dir/dockerd.log)"
}

###############################################################################
# Browser (the browser tests in cmd/keyline): Debian's Chromium and the
# pinned playwright-core that drives it.
###############################################################################

CHROMIUM=/usr/bin/chromium
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

ensure_chromium() {
  if [[ -x "$CHROMIUM" ]]; then
    echo "chromium: ok ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
    return 0
  fi
  take_lock
  apt_install chromium || die "chromium: $CHROMIUM missing (install Debian's chromium, or run as root)"
  echo "chromium: ok (installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"))"
}

# ensure_browser_packages runs npm ci of cmd/keyline/testdata/browser into
# the user cache dir, under a hash of its package.json and lock file: the
# directory cmd/keyline's browserDir computes and uses (and installs into
# itself when this script did not run). flock: the test may install at the
# same moment.
ensure_browser_packages() {
  local src="$REPO_DIR/cmd/keyline/testdata/browser" sum dir
  [[ -f "$src/package-lock.json" ]] || return 0
  command -v npm >/dev/null 2>&1 || die "browser: npm is required for the browser tests"
  sum="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)"
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/keyline/browser-$sum"
  if [[ -f "$dir/node_modules/.keyline-installed" ]]; then
    echo "browser: ok (playwright-core in $dir)"
    return 0
  fi
  mkdir -p "$dir"
  (
    flock -w 300 8 || exit 1
    [[ -f "$dir/node_modules/.keyline-installed" ]] && exit 0
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    log "browser: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) && touch "$dir/node_modules/.keyline-installed"
  ) 8>"$dir/.lock" || die "browser: npm ci of playwright-core failed in $dir"
  echo "browser: ok (installed playwright-core in $dir)"
}

###############################################################################

ensure_postgres
ensure_redis
ensure_clickhouse
ensure_prometheus
ensure_docker
ensure_chromium
ensure_browser_packages
