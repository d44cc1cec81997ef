#!/usr/bin/env bash
# Load benchmark of a release build of Aidmart with wrk.
#
# Usage: scripts/bench.sh [sqlite|postgres]     (default: both, sqlite first)
#
# Needs target/release/aidmart (this script builds nothing: run
# `cargo build --release` first). For each backend it starts the server on
# 127.0.0.1:18080 with a fresh, empty data directory (so it migrates and loads
# the demo data in seed/), then for each target runs a 5 s wrk warm-up and a
# measured `wrk -t2 -c64 -d20s --latency`, and prints one Markdown table row
# per (backend, target). Progress goes to stderr, the table to stdout.
#
# postgres: needs a PostgreSQL server on 127.0.0.1:5432 where `psql -U postgres`
# may create databases; the database aidmart_bench is dropped and re-created
# before the run and dropped after it. PGPASSWORD etc. are honoured by psql.
#
# wrk's and the server's raw output are kept in target/bench/ for inspection.

set -euo pipefail
shopt -s inherit_errexit

readonly HOST=127.0.0.1
readonly PORT=18080
readonly BASE_URL="http://${HOST}:${PORT}"
readonly TARGETS=(/counties/1 /api/v1/products)
readonly WRK_THREADS=2
readonly WRK_CONNECTIONS=64
readonly WARMUP=${BENCH_WARMUP:-5s}     # overridable for a quick try of the script itself
readonly DURATION=${BENCH_DURATION:-20s}
readonly START_TIMEOUT=120 # seconds; the first start migrates and seeds
readonly PG_DB=aidmart_bench
readonly PG_ADMIN=(env PGOPTIONS=--client-min-messages=warning psql -h "$HOST" -p 5432 -U postgres -d postgres -X -q -v ON_ERROR_STOP=1)

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    printf 'Usage: %s [sqlite|postgres]   (default: both)\n' "${0##*/}" >&2
    exit 2
}

# ---------------------------------------------------------------- arguments --
backends=()
case "${1:-}" in
    "") backends=(sqlite postgres) ;;
    sqlite | postgres) backends=("$1") ;;
    -h | --help) usage ;;
    *) usage ;;
esac
[[ $# -le 1 ]] || usage

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
cd "$ROOT"

readonly BIN="$ROOT/target/release/aidmart"
[[ -x "$BIN" ]] || die "$BIN not found: run cargo build --release first"
[[ -d seed ]] || die "$ROOT/seed not found"

# ------------------------------------------------------------------- tools --
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [[ ${#missing[@]} -gt 0 ]]; then
    command -v apt-get >/dev/null 2>&1 || die "please install: ${missing[*]}"
    log "installing ${missing[*]} with apt-get"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for backend in "${backends[@]}"; do
    if [[ $backend == postgres ]]; then
        command -v psql >/dev/null 2>&1 || die "psql not found (Debian package postgresql-client)"
    fi
done

# ------------------------------------------------------------ state, cleanup --
WORK="$(mktemp -d "${TMPDIR:-/tmp}/aidmart-bench.XXXXXX")"
readonly WORK
readonly OUT="$ROOT/target/bench"
mkdir -p "$OUT"
# An empty settings file: an aidmart.toml lying in the repository root must not
# change what is measured.
: >"$WORK/empty.toml"

server_pid=""
wrk_pid=""
pg_db_created=0
peak_kib=0 # set by run_wrk

stop_server() {
    [[ -n $server_pid ]] || return 0
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            log "server $server_pid did not stop on SIGTERM; sending SIGKILL"
            kill -KILL "$server_pid" 2>/dev/null || true
        fi
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

drop_pg_db() {
    [[ $pg_db_created -eq 1 ]] || return 0
    # WITH (FORCE) (PostgreSQL 13+) also ends sessions a killed server may have left.
    "${PG_ADMIN[@]}" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 ||
        "${PG_ADMIN[@]}" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 ||
        log "warning: could not drop database $PG_DB"
    pg_db_created=0
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $wrk_pid ]]; then
        kill -TERM "$wrk_pid" 2>/dev/null || true
        wait "$wrk_pid" 2>/dev/null || true
    fi
    stop_server
    drop_pg_db
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- helpers --
# Resident memory of a process in KiB (0 if it is gone).
rss_kib() {
    local kib
    kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true)
    printf '%s\n' "${kib:-0}"
}

kib_to_mib() {
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

# wrk prints latencies as e.g. 812.00us, 1.23ms, 1.02s, 1.50m: print milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (match(v, /^[0-9.]+/)) {
            n = substr(v, 1, RLENGTH); u = substr(v, RLENGTH + 1)
            f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
            if (f > 0) { printf "%.2f", n * f; exit }
        }
        printf "?"
    }'
}

http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" 2>/dev/null || true
}

start_server() {
    local backend=$1 data_dir=$2 log_file=$3
    local -a vars=(
        RUST_LOG=warn
        AIDMART_CONFIG="$WORK/empty.toml"
        AIDMART_DATA_DIR="$data_dir"
        AIDMART_SEED_DIR=seed
        AIDMART_BIND="$HOST:$PORT"
        AIDMART_PUBLIC_URL="$BASE_URL"
    )
    if [[ $backend == postgres ]]; then
        vars+=(DATABASE_URL="postgres://postgres@$HOST:5432/$PG_DB")
    fi

    # Only the database under test: no Redis, no SMTP, no inherited secret key.
    env -u DATABASE_URL -u REDIS_URL -u SMTP_URL -u AIDMART_SECRET_KEY -u AIDMART_TEMPLATES_DIR \
        "${vars[@]}" "$BIN" serve --bind "$HOST:$PORT" >"$log_file" 2>&1 &
    server_pid=$!

    local deadline=$((SECONDS + START_TIMEOUT))
    until [[ $(http_status "$BASE_URL/healthz") == 200 ]]; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            wait "$server_pid" 2>/dev/null || true
            server_pid=""
            tail -n 20 "$log_file" >&2 || true
            die "the server exited during start-up (log: $log_file)"
        fi
        ((SECONDS < deadline)) || {
            tail -n 20 "$log_file" >&2 || true
            die "no answer from $BASE_URL/healthz after ${START_TIMEOUT}s (log: $log_file)"
        }
        sleep 0.2
    done
}

# Runs wrk in the background, writing its output to $3, and samples the
# server's VmRSS while it runs and once after; raises peak_kib to the largest
# sample. (Not called in $(...), so that INT/TERM are handled within 0.25 s.)
run_wrk() {
    local duration=$1 url=$2 out_file=$3 latency=${4:-}
    local -a args=(-t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$duration")
    if [[ -n $latency ]]; then args+=(--latency); fi
    wrk "${args[@]}" "$url" >"$out_file" 2>&1 &
    wrk_pid=$!
    local rss
    while kill -0 "$wrk_pid" 2>/dev/null; do
        rss=$(rss_kib "$server_pid")
        if ((rss > peak_kib)); then peak_kib=$rss; fi
        sleep 0.25
    done
    if ! wait "$wrk_pid"; then
        wrk_pid=""
        cat "$out_file" >&2
        die "wrk failed against $url"
    fi
    wrk_pid=""
    rss=$(rss_kib "$server_pid")
    if ((rss > peak_kib)); then peak_kib=$rss; fi
}

rows=()

bench_backend() {
    local backend=$1
    local data_dir="$WORK/data-$backend"
    local server_log="$OUT/server-$backend.log"
    mkdir -p "$data_dir"

    if [[ $backend == postgres ]]; then
        log "postgres: re-creating database $PG_DB"
        "${PG_ADMIN[@]}" -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" ||
            die "cannot (re)create database $PG_DB on $HOST:5432 as user postgres"
        pg_db_created=1
    fi

    if [[ $(http_status "$BASE_URL/healthz") != 000 ]]; then
        die "something is already listening on $HOST:$PORT"
    fi

    log "$backend: starting the server on $BASE_URL"
    start_server "$backend" "$data_dir" "$server_log"
    sleep 1
    local rest_kib
    rest_kib=$(rss_kib "$server_pid")
    log "$backend: up (pid $server_pid), RSS at rest $(kib_to_mib "$rest_kib") MiB"

    local target url name code wrk_out rps p50 p99 errors non2xx
    for target in "${TARGETS[@]}"; do
        url="$BASE_URL$target"
        code=$(http_status "$url")
        [[ $code == 200 ]] || die "$backend: GET $target answered $code, not 200 (log: $server_log)"

        name="${backend}-$(printf '%s' "$target" | tr -c 'A-Za-z0-9' '_')"
        peak_kib=0
        log "$backend $target: warm-up $WARMUP"
        run_wrk "$WARMUP" "$url" "$OUT/$name.warmup.txt"

        log "$backend $target: measuring $DURATION (-t$WRK_THREADS -c$WRK_CONNECTIONS)"
        wrk_out="$OUT/$name.txt"
        run_wrk "$DURATION" "$url" "$wrk_out" latency

        rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$wrk_out")
        p50=$(awk '$1 == "50%" { print $2; exit }' "$wrk_out")
        p99=$(awk '$1 == "99%" { print $2; exit }' "$wrk_out")
        [[ -n $rps && -n $p50 && -n $p99 ]] || {
            cat "$wrk_out" >&2
            die "could not parse wrk's output ($wrk_out)"
        }
        errors=$(awk '/Socket errors:/ { sub(/^ *Socket errors: */, ""); print }' "$wrk_out")
        [[ -z $errors ]] || log "warning: $backend $target: socket errors: $errors"
        non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$wrk_out")
        [[ -z $non2xx ]] || log "warning: $backend $target: $non2xx non-2xx/3xx responses"

        rows+=("| $backend | $target | $rps | $(to_ms "$p50") | $(to_ms "$p99") | $(kib_to_mib "$rest_kib") | $(kib_to_mib "$peak_kib") |")
        log "$backend $target: $rps req/s, p50 $p50, p99 $p99"
    done

    kill -0 "$server_pid" 2>/dev/null || die "$backend: the server died under load (log: $server_log)"
    log "$backend: stopping the server"
    stop_server
    drop_pg_db
}

# -------------------------------------------------------------------- main --
log "binary: $BIN; wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$DURATION --latency; $(nproc) CPUs"
for backend in "${backends[@]}"; do
    bench_backend "$backend"
done

printf '| backend | target | requests/s | p50 (ms) | p99 (ms) | RSS at rest (MiB) | RSS under load (MiB) |\n'
printf '| --- | --- | ---: | ---: | ---: | ---: | ---: |\n'
printf '%s\n' "${rows[@]}"
