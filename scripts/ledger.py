#!/usr/bin/env python3
"""Independent tools for Aidmart's credit ledger, written without any of Aidmart's code.

  verify URL          fetch every entry from URL/api/v1/ledger and check the hash chain
  fill DB N           write N synthetic entries into a seeded database whose ledger is empty
                      (for benchmarks):
                      DB is a SQLite file path or a postgres:// URL (loaded with psql \\copy)
  canonical-bytes N   write the canonical text of N synthetic entries to stdout (the bytes
                      that `sha256sum` is timed on, for comparison)

The canonical text of an entry is
  aidmart-credit-v1|seq|kind|campaign|producer|county|org|project|channel|category|amount_fen|
  order_line|refund|donation|YYYY-MM-DDTHH:MM:SSZ|prev_hash
with absent values empty; its SHA-256 (hex) is the entry's hash. A payout to a cooperative
(kind `payout`) has no campaign and adds |payout_id|period_end|reference_hash after donation
(the SHA-256 of the bank's reference, never the account number). See docs/ARCHITECTURE.md.
"""
import hashlib
import json
import sqlite3
import subprocess
import sys
import tempfile
import urllib.request

GENESIS = "0" * 64
FIELDS = ["seq", "kind", "campaign_id", "producer_id", "county_id", "org_id", "project_id", "channel",
          "category", "amount_fen", "order_line_id", "refund_id", "donation_id"]
PAYOUT_FIELDS = ["payout_id", "period_end", "reference_hash"]


def canonical(e, created, prev):
    fields = FIELDS + (PAYOUT_FIELDS if e["kind"] == "payout" else [])
    parts = ["aidmart-credit-v1"] + ["" if e.get(f) is None else str(e[f]) for f in fields] + [created, prev]
    return "|".join(parts)


def fen(amount):
    sign = -1 if amount.startswith("-") else 1
    whole, _, frac = amount.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int((frac + "00")[:2]))


def verify(base):
    after, prev, count, payouts = 0, GENESIS, 0, {}
    while True:
        with urllib.request.urlopen(f"{base}/api/v1/ledger?after={after}&limit=1000") as r:
            page = json.load(r)
        for e in page["entries"]:
            e = dict(e, amount_fen=fen(e["amount"]))
            created = e["created_at"][:19] + "Z"
            if e["seq"] != count + 1 or e["prev_hash"] != prev:
                sys.exit(f"entry {count + 1}: broken link")
            text = canonical(e, created, prev)
            if text != e["canonical"] or hashlib.sha256(text.encode()).hexdigest() != e["hash"]:
                sys.exit(f"entry {e['seq']}: does not match its hash")
            if e["kind"] == "payout" and (e["campaign_id"] is not None or e["amount_fen"] <= 0
                                          or len(e.get("reference_hash") or "") != 64):
                sys.exit(f"entry {e['seq']}: a payout must name no campaign, a positive amount and a reference hash")
            payouts[e["producer_id"]] = payouts.get(e["producer_id"], 0) + (e["amount_fen"] if e["kind"] == "payout" else 0)
            prev, count = e["hash"], e["seq"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    paid = sum(payouts.values())
    print(f"ok: {count} entries, head {prev}; paid out to cooperatives: {paid // 100}.{paid % 100:02d}")


def synthetic(n):
    """(entry, created text, canonical, previous hash, hash) for n entries after the genesis."""
    prev = GENESIS
    for seq in range(1, n + 1):
        e = {"seq": seq, "kind": "sale", "campaign_id": 1 + seq % 2, "producer_id": 1 + seq % 6,
             "county_id": 1 + seq % 5, "org_id": None, "project_id": None, "channel": "public",
             "category": "helped_sales", "amount_fen": 100 + seq % 9900, "order_line_id": None,
             "refund_id": None, "donation_id": None}
        created = f"2026-11-{1 + seq % 28:02d}T08:{seq % 60:02d}:00Z"
        text = canonical(e, created, prev)
        h = hashlib.sha256(text.encode()).hexdigest()
        yield e, created, text, prev, h
        prev = h


def fill(db, n):
    rows, head = [], GENESIS
    for e, created, _, prev, h in synthetic(n):
        rows.append([e[f] for f in FIELDS] + [created[:10] + " " + created[11:19], prev, h])
        head = h
    if db.startswith("postgres"):
        with tempfile.NamedTemporaryFile("w", suffix=".csv") as f:
            for r in rows:
                f.write(",".join("" if v is None else str(v) for v in r) + "\n")
            f.flush()
            cols = ",".join(FIELDS + ["created_at", "prev_hash", "hash"])
            sql = f"\\copy credit_entries ({cols}) FROM '{f.name}' WITH (FORMAT csv)"
            subprocess.run(["psql", db, "-v", "ON_ERROR_STOP=1", "-c", sql], check=True)
            subprocess.run(["psql", db, "-v", "ON_ERROR_STOP=1", "-c",
                            f"UPDATE ledger_head SET entries = {n}, hash = '{head}'"], check=True)
    else:
        con = sqlite3.connect(db)
        marks = ",".join("?" * (len(FIELDS) + 3))
        con.executemany(f"INSERT INTO credit_entries ({','.join(FIELDS)}, created_at, prev_hash, hash) "
                        f"VALUES ({marks})", rows)
        con.execute("UPDATE ledger_head SET entries = ?, hash = ?", (n, head))
        con.commit()
    print(f"appended {n} entries, head {head}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "verify":
        verify(sys.argv[2].rstrip("/"))
    elif len(sys.argv) == 4 and sys.argv[1] == "fill":
        fill(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "canonical-bytes":
        out = sys.stdout.buffer
        for _, _, text, _, _ in synthetic(int(sys.argv[2])):
            out.write(text.encode())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
