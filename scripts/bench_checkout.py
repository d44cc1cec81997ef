#!/usr/bin/env python3
"""Checkout load: N concurrent buyers, each ordering its own SKU, against a release build.

Usage: scripts/bench_checkout.py [--backend postgres|sqlite] [--buyers 50] [--seconds 20]

Starts target/release/aidmart on a fresh database (PostgreSQL: a fresh `aidmart_bench_checkout`
database on 127.0.0.1:5432), adds N buyer accounts and N SKUs of one year-round product with
plenty of stock, logs every buyer in, then has each buyer place orders back to back (one line,
quantity 1, no points, a fresh Idempotency-Key each) for the given time. Prints orders/s and
latency percentiles. Only 127.0.0.1 is contacted.
"""
import argparse, http.client, json, os, shutil, signal, sqlite3, statistics, subprocess, sys, tempfile, threading, time, uuid

PORT = 18090
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def request(conn, method, path, body=None, headers=None):
    h = {"content-type": "application/json"}
    h.update(headers or {})
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    res = conn.getresponse()
    data = res.read()
    return res.status, res.getheader("set-cookie"), data


def sql_setup(backend, db, buyers):
    stmts = []
    for i in range(buyers):
        stmts.append(f"INSERT INTO users (email, password_hash, display_name) SELECT 'bench{i}@example.com', password_hash, 'Bench {i}' FROM users WHERE email = 'buyer@example.com'")
        stmts.append(f"INSERT INTO user_roles (user_id, role) SELECT id, 'buyer' FROM users WHERE email = 'bench{i}@example.com'")
        stmts.append(
            f"INSERT INTO skus (code, product_id, name_zh, name_en, unit_zh, unit_en, price_fen, stock, max_points_pct) "
            f"SELECT 'BENCH-{i}', product_id, name_zh, name_en, unit_zh, unit_en, price_fen, 100000000, 0 FROM skus WHERE code = 'RH-RICE-5KG'"
        )
    if backend == "postgres":
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", ";".join(stmts)], check=True)
    else:
        con = sqlite3.connect(db)
        for s in stmts:
            con.execute(s)
        con.commit()
        con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="postgres", choices=["postgres", "sqlite"])
    ap.add_argument("--buyers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    binary = os.path.join(ROOT, "target", "release", "aidmart")
    if not os.path.exists(binary):
        sys.exit("target/release/aidmart is missing: run cargo build --release first")
    data = tempfile.mkdtemp(prefix="aidmart-bench-checkout-")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SMTP_URL")}
    env.update(AIDMART_DATA_DIR=data, AIDMART_BIND=f"127.0.0.1:{PORT}", AIDMART_SEED_DIR=os.path.join(ROOT, "seed"),
               RUST_LOG="warn", AIDMART_LOGIN_LIMIT_PER_IP="100000", AIDMART_CONFIG=os.devnull)
    db = os.path.join(data, "aidmart.db")
    if args.backend == "postgres":
        db = "aidmart_bench_checkout"
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", "-c", f"CREATE DATABASE {db}"], check=True)
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db}"
    server = subprocess.Popen([binary, "serve"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "server.log"), "w"))
    try:
        for _ in range(600):
            try:
                c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
                if request(c, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        sql_setup(args.backend, db, args.buyers)
        c = http.client.HTTPConnection("127.0.0.1", PORT)
        campaign = next(x["id"] for x in json.loads(request(c, "GET", "/api/v1/campaigns")[2])["items"] if x["year_round"])
        if args.backend == "postgres":
            out = subprocess.run(["psql", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", "SELECT code, id FROM skus WHERE code LIKE 'BENCH-%'"], check=True, capture_output=True, text=True).stdout
            skus = dict(line.split("|") for line in out.split())
        else:
            con = sqlite3.connect(db)
            skus = {code: str(i) for code, i in con.execute("SELECT code, id FROM skus WHERE code LIKE 'BENCH-%'")}
            con.close()
        cookies = []
        for i in range(args.buyers):
            status, cookie, body = request(c, "POST", "/api/v1/auth/login", {"email": f"bench{i}@example.com", "password": "aidmart-demo"})
            assert status == 200, body
            cookies.append(cookie.split(";")[0])
        address = {"name": "压测", "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "西城区", "detail": "1 号"}
        latencies, errors, lock = [], [], threading.Lock()
        deadline = time.time() + args.seconds

        def buyer(i):
            conn = http.client.HTTPConnection("127.0.0.1", PORT)
            body = {"lines": [{"sku_id": int(skus[f"BENCH-{i}"]), "quantity": 1}], "points": 0, "campaign_id": campaign, "address": address}
            mine, bad = [], []
            while time.time() < deadline:
                t = time.perf_counter()
                status, _, data = request(conn, "POST", "/api/v1/orders", body, {"cookie": cookies[i], "idempotency-key": uuid.uuid4().hex})
                mine.append(time.perf_counter() - t)
                if status != 201:
                    bad.append((status, data[:200]))
            with lock:
                latencies.extend(mine)
                errors.extend(bad)

        started = time.time()
        threads = [threading.Thread(target=buyer, args=(i,)) for i in range(args.buyers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - started
        ok = len(latencies) - len(errors)
        q = statistics.quantiles(latencies, n=100)
        print(f"| {args.backend} | {args.buyers} | {ok} | {ok / elapsed:.0f} | {q[49] * 1000:.1f} | {q[94] * 1000:.1f} | {q[98] * 1000:.1f} | {len(errors)} |")
        if errors:
            print("first errors:", errors[:3], file=sys.stderr)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        if args.backend == "postgres":
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE IF EXISTS aidmart_bench_checkout WITH (FORCE)"], check=False)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
