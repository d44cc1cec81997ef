#!/usr/bin/env python3
"""Summarises scripts/fuzz_api.sh's cassettes (one per role, `cassette-<role>.yaml`).

Every operation is fuzzed as every demo role, and most roles are rightly refused most
operations (a buyer may not ship a cooperative's parcel). So an operation is judged by the
role that got furthest with it: "mostly rejected" means that even that role had over 90% of
its requests answered 4xx, "only 404" that every answer to every role was 404, and "never
2xx" that no role ever got through. Exits 1 when any request got a 5xx."""

import collections
import json
import os
import re
import sys
import urllib.parse
import urllib.request

import yaml


def operations(openapi_url):
    doc = json.load(urllib.request.urlopen(openapi_url))
    ops = []
    for path, methods in doc["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for method in methods:
            ops.append((method.upper(), path, pattern))
    return ops


def main(openapi_url, cassettes):
    ops = operations(openapi_url)
    # (method, template) -> role -> status code -> count
    stats = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    for cassette in cassettes:
        role = os.path.basename(cassette).removeprefix("cassette-").removesuffix(".yaml")
        with open(cassette) as f:
            data = yaml.safe_load(f) or {}
        for item in data.get("http_interactions", []):
            req, res = item.get("request", {}), item.get("response") or {}
            method = req.get("method", "").upper()
            path = urllib.parse.urlsplit(req.get("uri", "")).path
            code = int((res.get("status") or {}).get("code", 0))
            for m, template, pattern in ops:
                if m == method and pattern.match(path):
                    stats[(m, template)][role][code] += 1
                    break

    def share(counter, lo, hi):
        n = sum(counter.values())
        return sum(v for k, v in counter.items() if lo <= k < hi) / n if n else 0.0

    total = len(ops)
    server, mostly, only404, never, unrun = [], [], [], [], []
    for m, template, _ in ops:
        op = f"{m} {template}"
        by_role = stats.get((m, template), {})
        if not by_role:
            unrun.append(op)
            continue
        if any(k >= 500 for c in by_role.values() for k in c):
            server.append(op)
        best_role, best = max(by_role.items(), key=lambda rc: share(rc[1], 200, 300))
        detail = f"{op}: best as {best_role} {dict(sorted(best.items()))}"
        if share(best, 200, 300) == 0:
            never.append(detail)
        if share(best, 400, 500) > 0.9:
            mostly.append(detail)
        if all(set(c) == {404} for c in by_role.values()):
            only404.append(op)
    run = total - len(unrun)
    print(f"operations: {total} ({run} fuzzed); requests: "
          f"{sum(sum(c.values()) for r in stats.values() for c in r.values())}")
    print(f"not fuzzed (excluded by the script): {len(unrun)} {unrun}")
    print(f"5xx: {len(server)} {server}")
    print(f"mostly rejected (>90% 4xx even for the best role): {len(mostly)} of {run} "
          f"({100 * len(mostly) / max(run, 1):.0f}%)")
    for line in mostly:
        print("  " + line)
    print(f"only 404: {len(only404)} {only404}")
    print(f"never 2xx (unreachable to the fuzzer): {len(never)}")
    for line in never:
        print("  " + line)
    return 1 if server else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
