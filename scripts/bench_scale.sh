#!/usr/bin/env bash
# Issue 15's benchmarks, each ratio measured in one run (docs/PERFORMANCE.md).
#
# Usage: scripts/bench_scale.sh pages    catalog pages: aidmart vs nginx serving the same bytes
#        scripts/bench_scale.sh hot      50 buyers ordering one SKU vs pgbench's one-row
#                                        conditional decrement with 50 clients, same server;
#                                        pg_stat_statements tells where the time went
#        scripts/bench_scale.sh scale    one vs three instances behind nginx (scripts/scale.sh):
#                                        product page requests/s, hot-SKU orders/s, RSS
#        scripts/bench_scale.sh flash    flash-sale admission attempts/s and orders/s with Redis,
#                                        beside /healthz and redis-benchmark of the script alone
#        scripts/bench_scale.sh all
#
# Needs target/release/aidmart, wrk and nginx (Debian `wrk nginx-light`, installed when
# missing), PostgreSQL on 127.0.0.1:5432 (pages, scale), Redis on 127.0.0.1:6379 (scale), and
# the PostgreSQL server binaries (hot: a private cluster on port 5433 with pg_stat_statements
# preloaded, so the shared server's settings stay untouched; pgbench and aidmart both use it).
# wrk: -t2 -c64 for pages, -t2 -c50 for orders; BENCH_SECONDS each (default 15), after a 3 s
# warm-up for pages. Raw output in target/bench-scale/.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly OUT="$ROOT/target/bench-scale"
readonly BIN="${AIDMART_BIN:-$ROOT/target/release/aidmart}"
readonly SECONDS_EACH="${BENCH_SECONDS:-15}"
readonly APP_PORT=18280
readonly NGINX_PORT=18281
readonly PRIVATE_PG_PORT=5433
readonly PRIVATE_PG_DIR=/tmp/aidmart-bench-pg
readonly BUYERS=50
PSQL=(env PGOPTIONS=--client-min-messages=warning psql -h 127.0.0.1 -U postgres -X -q -v ON_ERROR_STOP=1)

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

mkdir -p "$OUT"
[[ -x "$BIN" ]] || die "$BIN not found: run cargo build --release first"
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi

APP_PID=""
NGINX_PID_FILE="$OUT/nginx.pid"
cleanup() {
    [[ -n "$APP_PID" ]] && kill "$APP_PID" 2>/dev/null || true
    [[ -e "$NGINX_PID_FILE" ]] && kill "$(cat "$NGINX_PID_FILE")" 2>/dev/null || true
    rm -f "$NGINX_PID_FILE"
    # hot's private cluster, if a failed run left it up (SIGINT: PostgreSQL's fast shutdown).
    [[ -e "$PRIVATE_PG_DIR/postmaster.pid" ]] && kill -INT "$(head -1 "$PRIVATE_PG_DIR/postmaster.pid")" 2>/dev/null || true
}
trap cleanup EXIT

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# CPU seconds (user + system) used so far by the given pids together.
cpu_seconds() {
    local ticks
    ticks=$(getconf CLK_TCK)
    for pid in "$@"; do awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null; done |
        awk -v t="$ticks" '{s += $1} END {printf "%.2f", s / t}'
}

wait_ready() {
    for _ in $(seq 1 240); do
        curl -fsS -o /dev/null "$1/readyz" 2>/dev/null && return 0
        sleep 0.5
    done
    die "$1 did not become ready"
}

# wrk's requests/s from its output file.
rps() { awk '/Requests\/sec/ {printf "%d", $2}' "$1"; }
p99() { awk '/ 99%/ {print $2}' "$1"; }

# Starts the release build on DATABASE_URL (env), seeding on first start; sets APP_PID.
start_app() {
    local data=$1
    shift
    (cd "$ROOT" && env AIDMART_DATA_DIR="$data" AIDMART_BIND="127.0.0.1:$APP_PORT" AIDMART_SEED_DIR="$ROOT/seed" \
        AIDMART_CONFIG=/dev/null RUST_LOG=warn AIDMART_LOGIN_LIMIT_PER_IP=100000 \
        AIDMART_LOGIN_LIMIT_PER_ACCOUNT=100000 AIDMART_LOGIN_LIMIT_PER_PAIR=100000 "$@" \
        "$BIN" serve >>"$OUT/app.log" 2>&1) &
    APP_PID=$!
    wait_ready "http://127.0.0.1:$APP_PORT"
    # The process is the subshell's child: find the server's own pid for its RSS.
    APP_PID=$(pgrep -P "$APP_PID" -f "$BIN serve" || echo "$APP_PID")
}

stop_app() {
    [[ -n "$APP_PID" ]] && kill "$APP_PID" 2>/dev/null || true
    sleep 1
    APP_PID=""
}

# ------------------------------------------------------------------ pages --
pages() {
    local db=aidmart_bench_pages data="$OUT/pages-data"
    rm -rf "$data" && mkdir -p "$data" "$OUT/static"
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
    start_app "$data" # seeds
    stop_app
    start_app "$data" # the resting process, as a long-running server would be
    local idle
    idle=$(rss_kb "$APP_PID")
    local county product
    county=$("${PSQL[@]}" -d "$db" -Atc "SELECT MIN(id) FROM counties WHERE aided")
    product=$("${PSQL[@]}" -d "$db" -Atc "SELECT product_id FROM skus WHERE code = 'GY-QUINOA-1KG'")
    declare -A paths=([home]="/" [county]="/counties/$county" [product]="/products/$product"
        [campaign]="/campaigns/dragon-boat-2027" [search]="/search?q=limai")
    cat >"$OUT/nginx-pages.conf" <<EOF
worker_processes auto;
pid $NGINX_PID_FILE;
error_log $OUT/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $OUT/nginx-body;
    proxy_temp_path $OUT/nginx-proxy;
    fastcgi_temp_path $OUT/nginx-fastcgi;
    uwsgi_temp_path $OUT/nginx-uwsgi;
    scgi_temp_path $OUT/nginx-scgi;
    default_type text/html;
    # nginx at its best for small static files; wrk keeps its connections open, as it does
    # with aidmart (actix serves any number of requests per connection).
    sendfile on;
    tcp_nopush on;
    open_file_cache max=100;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $OUT/static;
    }
}
EOF
    for name in home county product campaign search; do
        curl -fsS -o "$OUT/static/$name.html" "http://127.0.0.1:$APP_PORT${paths[$name]}"
    done
    nginx -c "$OUT/nginx-pages.conf" -e "$OUT/nginx-error.log"
    sleep 0.5
    printf '| page | bytes | aidmart req/s | aidmart p99 | nginx req/s | nginx p99 | ratio |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
    echo "$idle" >"$OUT/rss-peak.txt"
    local peak
    for name in home county product campaign search; do
        local url="http://127.0.0.1:$APP_PORT${paths[$name]}"
        wrk -t2 -c64 -d3s "$url" >/dev/null
        (while kill -0 "$APP_PID" 2>/dev/null; do rss_kb "$APP_PID"; sleep 0.5; done) >"$OUT/rss-$name.txt" &
        local sampler=$!
        wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency "$url" >"$OUT/wrk-app-$name.txt"
        kill "$sampler" 2>/dev/null || true
        peak=$(sort -n "$OUT/rss-$name.txt" "$OUT/rss-peak.txt" | tail -1)
        echo "$peak" >"$OUT/rss-peak.txt"
        wrk -t2 -c64 -d3s "http://127.0.0.1:$NGINX_PORT/$name.html" >/dev/null
        wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency "http://127.0.0.1:$NGINX_PORT/$name.html" >"$OUT/wrk-nginx-$name.txt"
        local a n
        a=$(rps "$OUT/wrk-app-$name.txt")
        n=$(rps "$OUT/wrk-nginx-$name.txt")
        printf '| %s `%s` | %s | %s | %s | %s | %s | %s |\n' "$name" "${paths[$name]}" "$(stat -c %s "$OUT/static/$name.html")" \
            "$a" "$(p99 "$OUT/wrk-app-$name.txt")" "$n" "$(p99 "$OUT/wrk-nginx-$name.txt")" \
            "$(awk -v a="$a" -v n="$n" 'BEGIN {printf "%.2f", a / n}')"
    done
    wrk -t2 -c64 -d"${SECONDS_EACH}s" "http://127.0.0.1:$APP_PORT/healthz" >"$OUT/wrk-healthz.txt"
    printf '\n/healthz: %s req/s. aidmart RSS: %s kB idle, %s kB at most under load.\n' \
        "$(rps "$OUT/wrk-healthz.txt")" "$idle" "$(cat "$OUT/rss-peak.txt")"
    rm -f "$OUT/rss-peak.txt"
    kill "$(cat "$NGINX_PID_FILE")" && rm -f "$NGINX_PID_FILE"
    stop_app
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}

# ------------------------------------------------------ buyers and orders --
# Adds BUYERS buyers and one SKU with plenty of stock to database $1 (psql args in PSQL),
# logs each buyer in at $2 and writes their session cookies to $OUT/cookies.txt; prints the
# hot SKU's id. BUYERS more SKUs, BENCH-OWN-1…, give each buyer one of its own (own_skus).
buyers_and_sku() {
    local db=$1 base=$2
    local sql="INSERT INTO skus (code, product_id, name_zh, name_en, unit_zh, unit_en, price_fen, stock, max_points_pct)
        SELECT c.code, product_id, name_zh, name_en, unit_zh, unit_en, price_fen, 100000000, 0 FROM skus,
            (SELECT 'BENCH-HOT' AS code UNION ALL SELECT 'BENCH-OWN-' || g FROM generate_series(1, $BUYERS) AS g) AS c
            WHERE skus.code = 'RH-RICE-5KG';"
    for i in $(seq 1 "$BUYERS"); do
        sql+="INSERT INTO users (email, password_hash, display_name) SELECT 'bench$i@example.com', password_hash, 'Bench $i' FROM users WHERE email = 'buyer@example.com';
              INSERT INTO user_roles (user_id, role) SELECT id, 'buyer' FROM users WHERE email = 'bench$i@example.com';"
    done
    "${PSQL[@]}" -d "$db" -c "$sql"
    : >"$OUT/cookies.txt"
    for i in $(seq 1 "$BUYERS"); do
        curl -fsS -o /dev/null -D - -H 'content-type: application/json' \
            -d "{\"email\":\"bench$i@example.com\",\"password\":\"aidmart-demo\"}" "$base/api/v1/auth/login" |
            sed -n 's/^[Ss]et-[Cc]ookie: aidmart_session=\([^;]*\).*/\1/p' >>"$OUT/cookies.txt"
    done
    [[ $(wc -l <"$OUT/cookies.txt") -eq $BUYERS ]] || die "not every buyer logged in"
    "${PSQL[@]}" -d "$db" -Atc "SELECT id FROM skus WHERE code = 'BENCH-HOT'"
}

# The ids of the BENCH-OWN SKUs in database $1, comma-separated.
own_skus() { "${PSQL[@]}" -d "$1" -Atc "SELECT string_agg(id::text, ',' ORDER BY id) FROM skus WHERE code LIKE 'BENCH-OWN-%'"; }

# wrk: 50 connections ordering SKU $2 at $1 for SECONDS_EACH; prints "orders/s p50 p99 errors".
order_load() {
    local base=$1 sku=$2 tag=$3
    BENCH_COOKIES="$OUT/cookies.txt" BENCH_SKU="$sku" BENCH_RUN="$tag-$$" \
        wrk -t2 -c"$BUYERS" -d"${SECONDS_EACH}s" --latency -s "$ROOT/scripts/bench_orders.lua" "$base" >"$OUT/wrk-orders-$tag.txt"
    awk -v s="$SECONDS_EACH" '/^orders:/ {ok=$2; bad=$4} /latency p50/ {p50=$3; p99=$6} END {printf "%d %s %s %d\n", ok / s, p50, p99, bad}' \
        "$OUT/wrk-orders-$tag.txt"
}

# ---------------------------------------------------------------- hot SKU --
hot() {
    local pg_bin
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
    if [[ ! -d "$PRIVATE_PG_DIR" ]]; then
        install -d -o postgres "$PRIVATE_PG_DIR"
        su postgres -c "$pg_bin/initdb -D $PRIVATE_PG_DIR -U postgres --auth=trust" >"$OUT/initdb.log"
    fi
    su postgres -c "$pg_bin/pg_ctl -D $PRIVATE_PG_DIR -l $PRIVATE_PG_DIR/log -w -o '-p $PRIVATE_PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on -c max_connections=200' start" >/dev/null
    local db=aidmart_bench_hot data="$OUT/hot-data"
    local saved=("${PSQL[@]}")
    PSQL+=(-p "$PRIVATE_PG_PORT")
    rm -rf "$data" && mkdir -p "$data"
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT/$db"
    start_app "$data"
    local base="http://127.0.0.1:$APP_PORT" sku
    sku=$(buyers_and_sku "$db" "$base" | tail -1)
    "${PSQL[@]}" -d "$db" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
    local before after app_cpu pg_cpu pg_pids
    before=$("${PSQL[@]}" -d "$db" -Atc "SELECT COUNT(*) FROM orders")
    pg_pids=$(pgrep -u postgres -f "aidmart_bench_hot" | paste -sd' ')
    app_cpu=$(cpu_seconds "$APP_PID")
    # shellcheck disable=SC2086 # one pid per word
    pg_cpu=$(cpu_seconds $pg_pids)
    # BENCH_PERF=1: a system-wide profile of the hot run (where the CPU goes), in $OUT/perf-hot.txt.
    local perf_pid=""
    if [[ -n "${BENCH_PERF:-}" ]]; then
        perf record -a -g -o "$OUT/perf-hot.data" -- sleep "$SECONDS_EACH" 2>/dev/null &
        perf_pid=$!
    fi
    read -r ops p50 p99_ bad < <(order_load "$base" "$sku" hot)
    if [[ -n "$perf_pid" ]]; then
        wait "$perf_pid" || true
        {
            perf report -i "$OUT/perf-hot.data" --no-children --sort comm,dso -g none --stdio 2>/dev/null | grep '%' | head -20
            perf report -i "$OUT/perf-hot.data" --no-children --comm postgres --sort sym -g none --stdio 2>/dev/null | grep '%' | head -40
        } >"$OUT/perf-hot.txt" || true
    fi
    app_cpu=$(awk -v a="$(cpu_seconds "$APP_PID")" -v b="$app_cpu" 'BEGIN {print a - b}')
    # shellcheck disable=SC2086
    pg_cpu=$(awk -v a="$(cpu_seconds $pg_pids)" -v b="$pg_cpu" 'BEGIN {print a - b}')
    after=$("${PSQL[@]}" -d "$db" -Atc "SELECT COUNT(*) FROM orders")
    "${PSQL[@]}" -d "$db" -c "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms,
        round(mean_exec_time::numeric, 3) AS mean_ms, plans, round(total_plan_time::numeric, 1) AS plan_ms,
        left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query
        FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$db')
        ORDER BY total_exec_time DESC LIMIT 25" >"$OUT/pg-stat-statements.txt"
    # The same load without a hot row: each buyer orders a SKU of its own.
    local own_ops own_p50 own_p99 own_bad
    read -r own_ops own_p50 own_p99 own_bad < <(order_load "$base" "$(own_skus "$db")" own)
    stop_app
    printf '\\set id %s\nUPDATE skus SET stock = stock - 1 WHERE id = :id AND stock >= 1;\n' "$sku" >"$OUT/decrement.sql"
    env PGOPTIONS=--client-min-messages=warning pgbench -h 127.0.0.1 -p "$PRIVATE_PG_PORT" -U postgres -n -c "$BUYERS" -j 2 \
        -T "$SECONDS_EACH" -f "$OUT/decrement.sql" "$db" >"$OUT/pgbench.txt" 2>&1
    local tps
    tps=$(awk '/^tps/ {printf "%d", $3}' "$OUT/pgbench.txt")
    printf '| what | per second | p50 (ms) | p99 (ms) | other answers |\n| --- | ---: | ---: | ---: | ---: |\n'
    printf '| aidmart: orders of one SKU, %d buyers (%d committed in %ss) | %s | %s | %s | %s |\n' \
        "$BUYERS" "$((after - before))" "$SECONDS_EACH" "$ops" "$p50" "$p99_" "$bad"
    printf '| aidmart: the same, each buyer ordering a SKU of its own (no hot row) | %s | %s | %s | %s |\n' \
        "$own_ops" "$own_p50" "$own_p99" "$own_bad"
    printf '| pgbench: one-row conditional decrement, %d clients | %s | | | |\n' "$BUYERS" "$tps"
    printf '\nCPU per committed order: aidmart %s ms, its PostgreSQL backends %s ms (of %s cores).\n' \
        "$(awk -v c="$app_cpu" -v n="$((after - before))" 'BEGIN {printf "%.3f", 1000 * c / n}')" \
        "$(awk -v c="$pg_cpu" -v n="$((after - before))" 'BEGIN {printf "%.3f", 1000 * c / n}')" "$(nproc)"
    printf '\nratio: %s\n\nWhere the time went (pg_stat_statements, the aidmart run):\n\n' \
        "$(awk -v a="$ops" -v b="$tps" 'BEGIN {printf "%.2f", a / b}')"
    cat "$OUT/pg-stat-statements.txt"
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    su postgres -c "$pg_bin/pg_ctl -D $PRIVATE_PG_DIR -w stop" >/dev/null
    PSQL=("${saved[@]}")
}

# ------------------------------------------------------------ flash sale --
# 200 buyers (Redis sessions) press "buy" in live sales (scripts/bench/flash_sale.lua: each
# request the next buyer's cookie, no Idempotency-Key), on the shared PostgreSQL and Redis.
flash() {
    local db=aidmart_bench_flash data="$OUT/flash-data" prefix="bench-flash-$$" n=200
    local cookies="$OUT/flash-cookies.txt"
    rm -rf "$data" "$cookies" && mkdir -p "$data"
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
    start_app "$data" REDIS_URL=redis://127.0.0.1:6379 AIDMART_REDIS_PREFIX="$prefix"
    local base="http://127.0.0.1:$APP_PORT"
    sale() { python3 "$ROOT/scripts/bench/flash_prepare.py" "$base" "$DATABASE_URL" "$n" "$1" "$2" "$cookies" | tail -1; }
    attempts() {
        FLASH_SALE=$1 FLASH_COOKIES="$cookies" wrk -t2 -c64 -d"$2" --latency -s "$ROOT/scripts/bench/flash_sale.lua" "$base"
    }
    local held sold_out plenty
    held=$(sale 1000 1)    # every buyer takes 1 in the warm-up; then each attempt is limit_reached
    sold_out=$(sale 100 1) # sold out in the warm-up; then each attempt is sold_out
    plenty=$(sale 1000000 1000) # limit 1,000 each: every attempt in the run is admitted
    attempts "$held" 3s >/dev/null
    attempts "$sold_out" 3s >/dev/null
    wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency "$base/healthz" >"$OUT/wrk-flash-healthz.txt"
    wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency -H "Cookie: $(head -1 "$cookies")" "$base/healthz" >"$OUT/wrk-flash-healthz-cookie.txt"
    attempts "$held" "${SECONDS_EACH}s" >"$OUT/wrk-flash-limit.txt"
    attempts "$sold_out" "${SECONDS_EACH}s" >"$OUT/wrk-flash-soldout.txt"
    local before after
    before=$("${PSQL[@]}" -d "$db" -Atc "SELECT COUNT(*) FROM flash_orders WHERE sale_id = $plenty")
    FLASH_SALE=$plenty FLASH_COOKIES="$cookies" wrk -t2 -c50 -d"${SECONDS_EACH}s" --latency \
        -s "$ROOT/scripts/bench/flash_sale.lua" "$base" >"$OUT/wrk-flash-orders.txt"
    after=$("${PSQL[@]}" -d "$db" -Atc "SELECT COUNT(*) FROM flash_orders WHERE sale_id = $plenty")
    local five_xx
    five_xx=$(cat "$OUT"/wrk-flash-{limit,soldout,orders}.txt | awk '/^status 5/ {s += $3} END {print s + 0}')
    stop_app
    # The script alone, on a hash with units for everyone: each call checks and takes.
    redis-cli HSET bench-flash-script gen 0 epoch x left 1000000000 >/dev/null
    redis-benchmark -q -c 50 -n 200000 -r 200 EVAL "$(sed -n '/^const ADMIT/,/^";/p' "$ROOT/src/flash/admission.rs" | sed '1d;$d')" \
        1 "bench-flash-script" __rand_int__ 1 1000000 0 >"$OUT/redis-benchmark-admit.txt" 2>&1 || true
    redis-cli DEL bench-flash-script >/dev/null
    redis-cli --scan --pattern "$prefix:*" | xargs -r redis-cli DEL >/dev/null
    printf '| what | requests/s | p50 | p99 |\n| --- | ---: | ---: | ---: |\n'
    local f
    for f in healthz:"\`GET /healthz\`, no cookie" healthz-cookie:"\`GET /healthz\` with a buyer's session cookie" \
        limit:"admission attempts, every buyer at its limit (409 \`limit_reached\`, the Lua script each time)" \
        soldout:"admission attempts on a sold-out sale (409 \`sold_out\`)"; do
        local file="$OUT/wrk-flash-${f%%:*}.txt"
        printf '| %s | %s | %s | %s |\n' "${f#*:}" "$(rps "$file")" "$(awk '/ 50%/ {print $2}' "$file")" "$(p99 "$file")"
    done
    printf '| orders committed in a sale with units for all (%d in %ss) | %s | %s | %s |\n' "$((after - before))" \
        "$SECONDS_EACH" "$(awk -v a="$((after - before))" -v s="$SECONDS_EACH" 'BEGIN {printf "%d", a / s}')" \
        "$(awk '/ 50%/ {print $2}' "$OUT/wrk-flash-orders.txt")" "$(p99 "$OUT/wrk-flash-orders.txt")"
    printf '| redis-benchmark -c 50: the admission script alone | %s | | |\n' \
        "$(tr '\r' '\n' <"$OUT/redis-benchmark-admit.txt" | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1)"
    printf '\n5xx answers: %s\n' "$five_xx"
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}

# ------------------------------------------------------ one vs three --
scale() {
    printf '| instances | product page req/s | p99 | orders/s (one SKU, %d buyers) | p99 | RSS idle per instance (kB) | RSS under load per instance (kB) |\n| ---: | ---: | ---: | ---: | ---: | --- | --- |\n' "$BUYERS"
    local n
    for n in 1 3; do
        AIDMART_LOGIN_LIMIT_PER_IP=100000 AIDMART_LOGIN_LIMIT_PER_ACCOUNT=100000 AIDMART_LOGIN_LIMIT_PER_PAIR=100000 \
            "$ROOT/scripts/scale.sh" up "$n"
        local base="http://127.0.0.1:${SCALE_PORT:-18090}" idle product sku
        sleep 2
        idle=$(for f in "$ROOT"/target/scale/app*.pid; do rss_kb "$(cat "$f")"; done | paste -sd/)
        product=$("${PSQL[@]}" -d aidmart_scale -Atc "SELECT product_id FROM skus WHERE code = 'GY-QUINOA-1KG'")
        wrk -t2 -c64 -d3s "$base/products/$product" >/dev/null
        wrk -t2 -c64 -d"${SECONDS_EACH}s" --latency "$base/products/$product" >"$OUT/wrk-scale-$n-product.txt"
        sku=$(buyers_and_sku aidmart_scale "$base" | tail -1)
        read -r ops _ p99o _ < <(order_load "$base" "$sku" "scale$n")
        local loaded
        loaded=$(for f in "$ROOT"/target/scale/app*.pid; do awk '/VmHWM/ {print $2}' "/proc/$(cat "$f")/status"; done | paste -sd/)
        printf '| %d | %s | %s | %s | %s | %s | %s (peak) |\n' "$n" "$(rps "$OUT/wrk-scale-$n-product.txt")" \
            "$(p99 "$OUT/wrk-scale-$n-product.txt")" "$ops" "$p99o" "$idle" "$loaded"
        "$ROOT/scripts/scale.sh" down
    done
}

case "${1:-all}" in
    pages) pages ;;
    hot) hot ;;
    scale) scale ;;
    flash) flash ;;
    all)
        pages
        hot
        scale
        flash
        ;;
    *)
        printf 'Usage: %s pages|hot|scale|flash|all\n' "${0##*/}" >&2
        exit 2
        ;;
esac
