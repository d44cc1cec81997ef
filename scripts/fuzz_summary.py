#!/usr/bin/env python3
"""Summarises scripts/fuzz_api.sh's cassettes: per API operation, the answers it got across
every role; lists the operations that never answered 2xx (unreachable to the fuzzer) and
the share that were "mostly rejected" (over 90% 4xx) or "only 404"."""

import collections
import json
import re
import sys
import urllib.request

import yaml


def main(openapi_url, cassettes):
    doc = json.load(urllib.request.urlopen(openapi_url))
    ops = []
    for path, methods in doc["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")) + "$")
        for method in methods:
            ops.append((method.upper(), path, pattern))
    stats = collections.defaultdict(collections.Counter)
    for cassette in cassettes:
        with open(cassette) as f:
            data = yaml.safe_load(f) or {}
        for item in data.get("http_interactions", []):
            req, res = item.get("request", {}), item.get("response") or {}
            method = req.get("method", "").upper()
            uri = req.get("uri", "")
            path = urllib.parse.urlsplit(uri).path
            code = int((res.get("status") or {}).get("code", 0))
            for m, template, pattern in ops:
                if m == method and pattern.match(path):
                    stats[(m, template)][code] += 1
                    break
    total = len(ops)
    never, mostly, only404, server = [], [], [], []
    for m, template, _ in ops:
        c = stats.get((m, template), collections.Counter())
        n = sum(c.values())
        ok = sum(v for k, v in c.items() if 200 <= k < 300)
        four = sum(v for k, v in c.items() if 400 <= k < 500)
        if any(k >= 500 for k in c):
            server.append(f"{m} {template}")
        if ok == 0:
            never.append(f"{m} {template}: {dict(sorted(c.items()))}")
        if n and four / n > 0.9:
            mostly.append(f"{m} {template}")
        if n and set(c) == {404}:
            only404.append(f"{m} {template}")
    print(f"operations: {total}; requests: {sum(sum(c.values()) for c in stats.values())}")
    print(f"5xx: {len(server)} {server}")
    print(f"mostly rejected (>90% 4xx): {len(mostly)} ({100 * len(mostly) / total:.0f}%)")
    print(f"only 404: {len(only404)} {only404}")
    print(f"never 2xx (unreachable to the fuzzer): {len(never)}")
    for line in never:
        print("  " + line)
    return 1 if server else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
