#!/usr/bin/env bash
# Three `aidmart serve` processes behind nginx, against one PostgreSQL and one Redis, on one
# machine without Docker (docker/compose.scale.yaml does the same with containers).
#
# Usage: scripts/scale.sh up [N]   start N instances (default 3) and nginx; stays running
#        scripts/scale.sh down     stop what `up` started (by the pids it wrote)
#        scripts/scale.sh status   what is running
#
# Needs target/release/aidmart (or AIDMART_BIN), PostgreSQL on 127.0.0.1:5432 where
# `psql -U postgres` may create databases, Redis on 127.0.0.1:6379, and nginx (Debian
# `nginx-light`: installed with apt-get when missing).
#
# The store answers on http://127.0.0.1:${SCALE_PORT:-18090} (nginx); the instances on the
# next ports. The database `aidmart_scale` is created afresh by `up` and dropped by `down`.
# The instances share one data folder (uploaded images, invoices, keys), one Redis prefix
# (sessions, rate limits, catalog changes) and one database; each has its own
# AIDMART_INSTANCE_ID. Background jobs run on every instance and each job is claimed by one
# at a time (PostgreSQL advisory locks). Everything lives in target/scale/.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly DIR="$ROOT/target/scale"
readonly BIN="${AIDMART_BIN:-$ROOT/target/release/aidmart}"
readonly PORT="${SCALE_PORT:-18090}"
readonly DB=aidmart_scale
readonly PG_URL="postgres://postgres@127.0.0.1:5432"
readonly REDIS="${SCALE_REDIS_URL:-redis://127.0.0.1:6379}"
readonly PSQL=(env PGOPTIONS=--client-min-messages=warning psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -X -q -v ON_ERROR_STOP=1)

log() { printf 'scale: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

wait_ready() {
    local url=$1
    for _ in $(seq 1 240); do
        curl -fsS -o /dev/null "$url/readyz" 2>/dev/null && return 0
        sleep 0.5
    done
    die "$url did not become ready (see $DIR/*.log)"
}

up() {
    local n=${1:-3}
    [[ -x "$BIN" ]] || die "$BIN not found: run cargo build --release first (or set AIDMART_BIN)"
    if ! command -v nginx >/dev/null 2>&1; then
        log "installing nginx-light with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
    fi
    [[ -e "$DIR/nginx.pid" ]] && die "already up (scripts/scale.sh down first)"
    mkdir -p "$DIR/data"
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

    local upstream=""
    for i in $(seq 1 "$n"); do
        upstream+="        server 127.0.0.1:$((PORT + i));"$'\n'
    done
    cat >"$DIR/nginx.conf" <<EOF
worker_processes auto;
pid $DIR/nginx.pid;
error_log $DIR/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $DIR/nginx-body;
    proxy_temp_path $DIR/nginx-proxy;
    fastcgi_temp_path $DIR/nginx-fastcgi;
    uwsgi_temp_path $DIR/nginx-uwsgi;
    scgi_temp_path $DIR/nginx-scgi;
    client_max_body_size 8m;
    upstream aidmart {
$upstream        keepalive 64;
    }
    server {
        listen 127.0.0.1:$PORT;
        location / {
            proxy_pass http://aidmart;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF

    local prefix="scale-$$"
    for i in $(seq 1 "$n"); do
        (
            cd "$ROOT"
            export DATABASE_URL="$PG_URL/$DB" REDIS_URL="$REDIS" AIDMART_REDIS_PREFIX="$prefix" \
                AIDMART_INSTANCE_ID="app$i" AIDMART_BIND="127.0.0.1:$((PORT + i))" \
                AIDMART_DATA_DIR="$DIR/data" AIDMART_SEED_DIR="$ROOT/seed" \
                AIDMART_PUBLIC_URL="http://127.0.0.1:$PORT" AIDMART_TRUST_PROXY=true \
                AIDMART_DB_POOL_SIZE="${SCALE_POOL_SIZE:-10}" RUST_LOG="${RUST_LOG:-warn}"
            exec "$BIN" serve >"$DIR/app$i.log" 2>&1
        ) &
        echo $! >"$DIR/app$i.pid"
        # The first migrates, seeds and writes the keys; the others start once it is ready.
        [[ $i -eq 1 ]] && wait_ready "http://127.0.0.1:$((PORT + 1))"
    done
    for i in $(seq 2 "$n"); do wait_ready "http://127.0.0.1:$((PORT + i))"; done
    nginx -c "$DIR/nginx.conf" -e "$DIR/nginx-error.log"
    wait_ready "http://127.0.0.1:$PORT"
    log "up: http://127.0.0.1:$PORT -> $n instances (pids: $(cat "$DIR"/app*.pid | tr '\n' ' '))"
}

down() {
    if [[ -e "$DIR/nginx.pid" ]]; then
        kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
        rm -f "$DIR/nginx.pid"
    fi
    for pidfile in "$DIR"/app*.pid; do
        [[ -e "$pidfile" ]] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    sleep 1
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
    log "down"
}

status() {
    for pidfile in "$DIR"/app*.pid "$DIR/nginx.pid"; do
        [[ -e "$pidfile" ]] || continue
        local pid
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            printf '%s pid %s rss %s kB\n' "$(basename "$pidfile" .pid)" "$pid" \
                "$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
        else
            printf '%s pid %s not running\n' "$(basename "$pidfile" .pid)" "$pid"
        fi
    done
}

case "${1:-}" in
    up) up "${2:-3}" ;;
    down) down ;;
    status) status ;;
    *)
        printf 'Usage: %s up [N] | down | status\n' "${0##*/}" >&2
        exit 2
        ;;
esac
