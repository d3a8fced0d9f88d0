#!/usr/bin/env python3
"""One table from a bench/run.sh sitting: QuantGraph vs PostGraphile vs raw SQL, with ratios."""
import json, os, sys

out = sys.argv[1]
qg = json.load(open(os.path.join(out, "quantgraph", "summary.json")))["summary"]
pgl = json.load(open(os.path.join(out, "postgraphile", "summary.json")))["summary"]
print("| query | QuantGraph req/s | p50 ms | p99 ms | PostGraphile req/s | p50 ms | p99 ms | QG / PostGraphile | raw SQL tps | QG / raw | raw JSON-SQL tps | QG / raw JSON |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for q in qg:
    g, p = qg[q]["graphql"], pgl[q]["graphql"]
    r, j = qg[q].get("raw"), qg[q].get("raw_json")
    print(f"| {q} | {g['rps']:.1f} {g['rps_runs']} | {g['p50_ms']:.1f} | {g['p99_ms']:.1f} | {p['rps']:.1f} {p['rps_runs']} | "
          f"{p['p50_ms']:.1f} | {p['p99_ms']:.1f} | {g['rps'] / p['rps']:.2f} | {r['rps']:.1f} | {g['rps'] / r['rps']:.3f} | "
          f"{j['rps']:.1f} | {g['rps'] / j['rps']:.3f} |")

