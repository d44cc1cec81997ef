#!/usr/bin/env python3
"""Memory under a burst of logins: starts the server (SQLite, a temporary data folder), sends
N logins at once (200 by default, the demo accounts in turn), and reports the server's
resident memory before and at its peak (VmHWM), and how the logins were answered.

    cargo build --bin aidmart            # or --release, then --bin target/release/aidmart
    python3 scripts/bench_logins.py [--bin target/debug/aidmart] [--logins 200]

Password hashing (argon2id, 19 MiB each) is bounded by AIDMART_HASH_CONCURRENCY (default:
the cores): logins beyond it wait up to 3 s for a slot, then get 429 with Retry-After. The
login limits are raised here so that only the hashing bound is measured. Linux only (/proc).
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCOUNTS = ["buyer", "employee", "union", "union2", "canteen", "coop", "admin"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def login(base, i):
    email = f"{ACCOUNTS[i % len(ACCOUNTS)]}@example.com"
    body = json.dumps({"email": email, "password": "aidmart-demo"}).encode()
    req = urllib.request.Request(base + "/api/v1/auth/login", data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:  # noqa: BLE001 - a dropped connection counts as a failure
        return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.path.join(ROOT, "target/debug/aidmart"))
    p.add_argument("--logins", type=int, default=200)
    args = p.parse_args()
    data = tempfile.mkdtemp(prefix="aidmart-bench-")
    port = free_port()
    env = dict(os.environ)
    for k in ("DATABASE_URL", "REDIS_URL"):
        env.pop(k, None)
    env.update({
        "AIDMART_BIND": f"127.0.0.1:{port}",
        "AIDMART_DATA_DIR": data,
        "AIDMART_SEED_DIR": os.path.join(ROOT, "seed"),
        "AIDMART_LOGIN_LIMIT_PER_PAIR": "100000",
        "AIDMART_LOGIN_LIMIT_PER_ACCOUNT": "100000",
        "AIDMART_LOGIN_LIMIT_PER_IP": "100000",
        "RUST_LOG": "warn",
    })
    server = subprocess.Popen([args.bin, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except Exception:  # noqa: BLE001
                time.sleep(0.2)
        # One login first, so that lazy start-up work is not counted as the burst's.
        login(base, 0)
        before = rss_kib(server.pid, "VmRSS")
        started = time.time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.logins) as pool:
            answers = list(pool.map(lambda i: login(base, i), range(args.logins)))
        elapsed = time.time() - started
        peak = rss_kib(server.pid, "VmHWM")
        after = rss_kib(server.pid, "VmRSS")
        counts = {str(code): answers.count(code) for code in sorted(set(answers))}
        print(json.dumps({
            "logins": args.logins,
            "answers": counts,
            "seconds": round(elapsed, 2),
            "rss_before_mb": round(before / 1024, 1),
            "rss_peak_mb": round(peak / 1024, 1),
            "rss_after_mb": round(after / 1024, 1),
            "hash_concurrency": env.get("AIDMART_HASH_CONCURRENCY", f"cores ({os.cpu_count()})"),
        }, indent=2))
        return 0 if peak < 200 * 1024 and 500 not in answers and 0 not in answers else 1
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
