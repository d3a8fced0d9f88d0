#!/usr/bin/env python3
"""Where a sitting's CPU went: per query, the gateway's and PostgreSQL's CPU per request while
QuantGraph was measured (the harness's "during" accounting: cores used by each over the run,
divided by the requests served), their ratio, and QuantGraph's rate as a fraction of raw SQL's
and PostGraphile's in the same sitting. Means over the sitting's kept runs.

Usage: python3 bench/cost.py bench/results/<sitting>"""
import json, os, sys
from statistics import mean


def runs(path):
    if not os.path.exists(path):
        return []
    return [r for r in map(json.loads, open(path)) if not r.get("contaminated")]


def main(sitting):
    ours = runs(os.path.join(sitting, "quantgraph", "runs.jsonl"))
    theirs = runs(os.path.join(sitting, "postgraphile", "runs.jsonl"))
    print("| query | gateway CPU / request | PostgreSQL CPU / request | gateway ÷ PostgreSQL | QuantGraph ÷ raw SQL | QuantGraph ÷ PostGraphile |")
    print("|---|---|---|---|---|---|")
    for q in sorted({r["query"] for r in ours}):
        g = [r for r in ours if r["query"] == q and r["target"] == "graphql"]
        raw = [r["rps"] for r in ours if r["query"] == q and r["target"] == "raw"]
        pgl = [r["rps"] for r in theirs if r["query"] == q and r["target"] == "graphql"]
        gw = mean(r["cpu_server_cores"] / r["rps"] * 1000 for r in g)
        pg = mean(r["cpu_postgres_cores"] / r["rps"] * 1000 for r in g)
        rps = mean(r["rps"] for r in g)
        vs_pgl = f"{rps / mean(pgl):.2f}" if pgl else "–"
        print(f"| {q} | {gw:.2f} ms | {pg:.2f} ms | {gw / pg:.2f} | {rps / mean(raw):.3f} | {vs_pgl} |")


if __name__ == "__main__":
    main(sys.argv[1])
