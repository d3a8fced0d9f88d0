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

# The response cache's sittings, when run: req/s and p99 against raw SQL in the same sitting,
# and the share of requests answered from the cache (misses include the first fill).
def cache_ratio(run):
    def read(name):
        path = os.path.join(out, f"{run}-cache-{name}.txt")
        if not os.path.exists(path):
            return None
        return {k: float(v) for k, v in (line.split() for line in open(path) if line.strip())}
    before, after = read("before"), read("after")
    if before is None or after is None:
        return None
    hits = after["quantgraph_response_cache_hits_total"] - before["quantgraph_response_cache_hits_total"]
    misses = after["quantgraph_response_cache_misses_total"] - before["quantgraph_response_cache_misses_total"]
    return hits / (hits + misses) if hits + misses else None

runs = [r for r in ("cached", "cached-writes") if os.path.exists(os.path.join(out, r, "summary.json"))]
if runs:
    print()
    print("| query | run | req/s | p50 ms | p99 ms | / raw SQL | / uncached | / PostGraphile | hit ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        c = json.load(open(os.path.join(out, run, "summary.json")))["summary"]
        ratio = cache_ratio(run)
        for q in c:
            g = c[q]["graphql"]
            r, u, p = qg[q].get("raw"), qg[q]["graphql"], pgl[q]["graphql"]
            hit = f"{ratio:.4f}" if ratio is not None else "-"
            print(f"| {q} | {run} | {g['rps']:.1f} {g['rps_runs']} | {g['p50_ms']:.1f} | {g['p99_ms']:.1f} | "
                  f"{g['rps'] / r['rps']:.2f} | {g['rps'] / u['rps']:.2f} | {g['rps'] / p['rps']:.2f} | {hit} |")
