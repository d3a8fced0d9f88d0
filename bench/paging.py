#!/usr/bin/env python3
"""Keyset pages of 100 OHLCV rows at the start, middle and end of the table, ordered by its
primary key: 200 requests per position from 16 concurrent clients (so every pooled connection
serves many and PostgreSQL moves its prepared statements to generic plans). Prints medians and
p99 side by side."""
import base64, json, os, statistics, subprocess, sys, threading, time, urllib.request

URL = os.environ.get("QG_URL", "http://127.0.0.1:8100/graphql")
PG = ["psql", "-X", "-A", "-t", "-F", "\t", "-h", "127.0.0.1", "-p", os.environ.get("BENCH_PG_PORT", "55433"),
      "-U", "postgres", "-d", os.environ.get("QG_DB", "quantgraph")]
REQUESTS, CLIENTS = int(os.environ.get("PAGING_REQUESTS", "200")), int(os.environ.get("PAGING_CLIENTS", "16"))
ORDER = "[{ ticker: ASC }, { region: ASC }, { date: ASC }, { timeframe: ASC }]"
QUERY = "query($after: String) { ohlcvData(first: 100, after: $after, orderBy: %s) { nodes { ticker date close volume } pageInfo { endCursor hasNextPage } } }" % ORDER


def psql(sql):
    return subprocess.run(PG + ["-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def cursor_at(offset):
    """The gateway's cursor for the row at `offset` (base64url of the ordering values, as JSON)."""
    row = psql("SELECT ticker, region, date, timeframe FROM ohlcv_data ORDER BY ticker, region, date, timeframe OFFSET %d LIMIT 1" % offset)
    vals = row.split("\t")
    return base64.urlsafe_b64encode(json.dumps(vals, separators=(",", ":")).encode()).decode().rstrip("=")


def post(after):
    body = json.dumps({"query": QUERY, "variables": {"after": after}}).encode()
    req = urllib.request.Request(URL, body, {"Content-Type": "application/json"})
    t = time.perf_counter()
    data = json.load(urllib.request.urlopen(req))
    ms = (time.perf_counter() - t) * 1000
    assert "errors" not in data, data
    assert len(data["data"]["ohlcvData"]["nodes"]) == 100, data
    return ms


def measure(after):
    times, lock, left = [], threading.Lock(), [REQUESTS]

    def worker():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            ms = post(after)
            with lock:
                times.append(ms)

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main():
    n = int(psql("SELECT count(*) FROM ohlcv_data"))
    positions = [("start (no cursor)", None), ("middle (after row %d)" % (n // 2), cursor_at(n // 2)),
                 ("end (after row %d)" % (n - 101), cursor_at(n - 101))]
    for _, after in positions:  # warm-up: every position once per client
        for _ in range(CLIENTS):
            post(after)
    print("%d rows; %d requests per position, %d clients\n" % (n, REQUESTS, CLIENTS))
    print("| page of 100 | p50 ms | p99 ms |")
    print("|---|---|---|")
    for name, after in positions:
        p50, p99 = measure(after)
        print("| %s | %.1f | %.1f |" % (name, p50, p99))


if __name__ == "__main__":
    sys.exit(main())
