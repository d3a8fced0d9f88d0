#!/usr/bin/env python3
"""Checks QuantGraph's answers to the bench queries against the harness's raw SQL, row by row."""
import json, os, subprocess, sys, urllib.request
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.environ.get("BENCH_HARNESS", os.path.join(HERE, "..", "..", "shared", "bench"))
URL = os.environ.get("QG_URL", "http://127.0.0.1:8100/graphql")
PG = ["psql", "-X", "-A", "-t", "-F", "\t", "-h", "127.0.0.1", "-p", os.environ.get("BENCH_PG_PORT", "55433"), "-U", "postgres", "-d", os.environ.get("QG_DB", "quantgraph")]


def gql(name):
    q = open(os.path.join(HERE, "queries", name + ".graphql")).read()
    v = json.load(open(os.path.join(HERE, "queries", name + ".variables.json")))
    req = urllib.request.Request(URL, json.dumps({"query": q, "variables": v}).encode(), {"Content-Type": "application/json"})
    body = json.load(urllib.request.urlopen(req))
    assert "errors" not in body, body
    return body["data"]


def raw(name):
    out = subprocess.run(PG + ["-f", os.path.join(HARNESS, "queries", name + ".sql")], check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def norm(v):
    if v is None or v == "":
        return None
    try:
        return Decimal(str(v))
    except Exception:
        return str(v)


def same(name, got, want):
    got = [[norm(x) for x in r] for r in got]
    want = [[norm(x) for x in r] for r in want]
    assert len(got) == len(want), f"{name}: {len(got)} rows, raw SQL has {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"{name}: row {i}: {g} != {w}"
    print(f"{name}: {len(got)} rows identical to raw SQL")


d = gql("q1_screen")
same("q1_screen", [[t["ticker"], t["region"], t["name"], t["stockDetails"]["sector"], t["stockDetails"]["marketCap"], b["date"], b["close"], b["volume"]]
                   for t in d["tickers"]["nodes"] for b in t["ohlcv"]["nodes"]], raw("q1_screen"))
d = gql("q2_chart")
same("q2_chart", [[b["date"], b["open"], b["high"], b["low"], b["close"], b["volume"]] for b in d["ohlcvData"]["nodes"]], raw("q2_chart"))
d = gql("q3_strategies")
same("q3_strategies", [[s["rowId"], s["name"], b["startDate"], b["endDate"], b["totalReturn"], b["sharpeRatio"], b["maxDrawdown"]]
                       for s in d["strategies"]["nodes"] for b in s["backtestResults"]["nodes"]], raw("q3_strategies"))
