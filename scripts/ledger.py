#!/usr/bin/env python3
"""Independent tools for Aidmart's credit ledger, written without any of Aidmart's code.

  verify URL          fetch every entry from URL/api/v1/ledger and check the hash chain
  fill DB N           write N synthetic entries into a seeded database whose ledger is empty
                      (for benchmarks):
                      DB is a SQLite file path or a postgres:// URL (loaded with psql \\copy)
  canonical-bytes N   write the canonical text of N synthetic entries to stdout (the bytes
                      that `sha256sum` is timed on, for comparison)
  draw URL ID         recompute a closed lucky draw's winners from URL/api/v1/draws/ID alone
                      and say whether they match the published ones (exit status 1 if not)

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


def draw_winners(seed, ledger_head, entries_hash, numbers, k):
    """The drawing rule (docs/ARCHITECTURE.md, "Lucky draws"): counter-mode SHA-256 over
    base = SHA-256(seed ‖ ledger head ‖ entries hash), rejection sampling, without replacement."""
    base = hashlib.sha256(bytes.fromhex(seed) + bytes.fromhex(ledger_head) + bytes.fromhex(entries_hash)).digest()
    left, out, counter = list(numbers), [], 0
    while len(out) < k and left:
        m = len(left)
        limit = 2 ** 64 - (2 ** 64 % m)
        while True:
            block = hashlib.sha256(base + counter.to_bytes(8, "big")).digest()
            counter += 1
            x = int.from_bytes(block[:8], "big")
            if x < limit:
                out.append(left.pop(x % m))
                break
    return out


def draw(base, draw_id):
    with urllib.request.urlopen(f"{base}/api/v1/draws/{draw_id}") as r:
        d = json.load(r)
    if d["status"] != "closed":
        sys.exit(f"draw {draw_id} is still open; commitment {d['commitment']}")
    problems = []
    if hashlib.sha256(bytes.fromhex(d["seed"])).hexdigest() != d["commitment"]:
        problems.append("the seed does not hash to the commitment")
    entries = sorted(d["entries"], key=lambda e: e["number"])
    if [e["number"] for e in entries] != list(range(1, len(entries) + 1)):
        problems.append("entry numbers are not 1..n")
    text = "".join(f"{e['number']}|{e['kind']}|{e['ref_id']}|{e['masked_name']}\n" for e in entries)
    entries_hash = hashlib.sha256(text.encode()).hexdigest()
    if entries_hash != d["entries_hash"]:
        problems.append("the entry list does not hash to entries_hash")
    slots = sum(p["count"] for p in d["prizes"])
    mine = draw_winners(d["seed"], d["ledger_head"], entries_hash, [e["number"] for e in entries], slots)
    prizes = [p["position"] for p in sorted(d["prizes"], key=lambda p: p["position"]) for _ in range(p["count"])]
    theirs = [(w["rank"], w["entry_number"], w["prize_position"]) for w in sorted(d["winners"], key=lambda w: w["rank"])]
    expected = [(i + 1, n, prizes[i]) for i, n in enumerate(mine)]
    if expected != theirs:
        problems.append(f"winners differ: recomputed {expected}, published {theirs}")
    # The ledger head named must be the hash of entry ledger_entries of the public ledger.
    n = d["ledger_entries"] or 0
    if n > 0:
        with urllib.request.urlopen(f"{base}/api/v1/ledger/verify?entries={n}&head={d['ledger_head']}") as r:
            if json.load(r).get("extends_checkpoint") is not True:
                problems.append(f"ledger entry {n} does not have the hash {d['ledger_head']}")
    elif d["ledger_head"] != GENESIS:
        problems.append("an empty ledger's head is 64 zeros")
    if problems:
        for p in problems:
            print(f"MISMATCH: {p}")
        sys.exit(1)
    print(f"ok: draw {draw_id}: {len(entries)} entries, winners (entry numbers) {mine} match")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "verify":
        verify(sys.argv[2].rstrip("/"))
    elif len(sys.argv) == 4 and sys.argv[1] == "fill":
        fill(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "draw":
        draw(sys.argv[2].rstrip("/"), int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "canonical-bytes":
        out = sys.stdout.buffer
        for _, _, text, _, _ in synthetic(int(sys.argv[2])):
            out.write(text.encode())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
