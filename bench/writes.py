#!/usr/bin/env python3
"""A steady background of writes for the bench: prints one UPDATE of a daily bar every 1/RATE
seconds (RATE from argv, default 20), for a psql session to run as it comes. Each touches the
latest bar of a ticker drawn from the bench's listings, the chart's ticker among them."""
import random, sys, time

rate = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
tickers = [line.split("|") for line in sys.stdin.read().split() if "|" in line]
rng = random.Random(7)
next_at = time.monotonic()
while True:
    t, r = rng.choice(tickers)
    print(
        f"UPDATE ohlcv_data SET volume = volume + 1 WHERE id = (SELECT id FROM ohlcv_data "
        f"WHERE ticker = '{t}' AND region = '{r}' AND timeframe = 'D' ORDER BY date DESC LIMIT 1);",
        flush=True,
    )
    next_at += 1.0 / rate
    time.sleep(max(0.0, next_at - time.monotonic()))
