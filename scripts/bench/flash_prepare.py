#!/usr/bin/env python3
"""Prepares a flash-sale benchmark on a running store: N buyers (the demo password) logged in,
their session cookies written one per line, and a live sale made by the admin.

    python3 scripts/bench/flash_prepare.py http://127.0.0.1:PORT DATABASE_URL N QUANTITY LIMIT COOKIES_FILE

Prints the sale's id. Buyers are inserted with SQL (psql), copying the demo buyer's password
hash, so no registration mail is needed. When COOKIES_FILE already holds N cookies, those
buyers are reused (only the sale is made)."""

import datetime
import os
import subprocess
import sys

import requests

base, db, n, quantity, limit, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
sql = ("INSERT INTO users (email, password_hash, display_name, disabled, created_at, verified) "
       "SELECT 'bench' || g || '@example.com', password_hash, 'Bench ' || g, disabled, created_at, verified "
       f"FROM users, generate_series(1, {n}) AS g WHERE email = 'buyer@example.com' "
       "ON CONFLICT DO NOTHING")
if not os.path.exists(out) or len(open(out).read().split()) != n:
    subprocess.run(["psql", "-q", db, "-c", sql], check=True)
    with open(out, "w") as f:
        for i in range(1, n + 1):
            s = requests.Session()
            r = s.post(base + "/api/v1/auth/login", json={"email": f"bench{i}@example.com", "password": "aidmart-demo"})
            r.raise_for_status()
            f.write(f"aidmart_session={s.cookies['aidmart_session']}\n")
admin = requests.Session()
admin.post(base + "/api/v1/auth/login", json={"email": "admin@example.com", "password": "aidmart-demo"}).raise_for_status()
sku = admin.get(base + "/api/v1/products/1").json()["skus"][0]["id"]
now = datetime.datetime.now(datetime.timezone.utc)
subprocess.run(["psql", "-q", db, "-c", f"UPDATE skus SET stock = stock + {quantity} WHERE id = {sku}"], check=True)
r = admin.post(base + "/api/v1/flash-sales", json={
    "sku_id": sku, "price": "9.90", "quantity": quantity, "per_buyer_limit": limit,
    "starts_at": (now - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "ends_at": (now + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")})
r.raise_for_status()
print(r.json()["id"])
