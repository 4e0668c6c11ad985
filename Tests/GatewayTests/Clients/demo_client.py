#!/usr/bin/env python3
"""A newcomer's first steps on `exchange demo`, with ccxt and the printed key: the market is
there and moving, the demo account is funded, an order goes in and comes out.
Usage: demo_client.py DEMO.json (the line `exchange demo --json` printed)"""
import json
import sys
import time

from checks import check, ccxt_client

demo = json.load(open(sys.argv[1]))
ex = ccxt_client(demo["api"], demo)
markets = ex.load_markets()
check("the demo's symbols", {"CA/USDT", "CB/USDT", "CC/USDT"} <= set(markets), list(markets))
balance = ex.fetch_balance()
check("the demo account is funded", balance["USDT"]["free"] == 1_000_000 and balance["CA"]["free"] == 1000, balance["total"])
deadline = time.time() + 20
while not ex.fetch_trades("CA/USDT") and time.time() < deadline:
    time.sleep(0.1)
check("the agents trade", len(ex.fetch_trades("CA/USDT")) > 0)
book = ex.fetch_order_book("CA/USDT")
bid = book["bids"][0][0]
placed = ex.create_order("CA/USDT", "limit", "buy", 1, round(bid * 0.5, 2))
check("an order rests", placed["status"] == "open", placed)
check("and is cancelled", ex.cancel_order(placed["id"], "CA/USDT")["status"] == "canceled")
print("all checks passed")
