#!/usr/bin/env python3
"""A Binance client (ccxt, unchanged) against a primary and its replica.
Usage: replica_client.py CONFIG.json PHASE
  follow:   trades on the primary; the replica, once caught up, shows the same book, open orders,
            trades and balances; an order sent to the replica gets -1001 naming the primary.
  promoted: the replica, promoted, takes orders with the same key and matches them against the
            book it received."""
import json
import sys
import time

import ccxt

from checks import check, ccxt_client

config = json.load(open(sys.argv[1]))
phase = sys.argv[2]


def client(base):
    return ccxt_client(base, config["key"])


def view(ex):
    """What a client can read: the book, its open orders, its trades, its balances."""
    book = ex.fetch_order_book("BTC/USDT")
    return {
        "bids": book["bids"], "asks": book["asks"],
        "open": sorted((o["id"], o["side"], o["price"], o["remaining"]) for o in ex.fetch_open_orders("BTC/USDT")),
        "trades": sorted((t["id"], t["price"], t["amount"]) for t in ex.fetch_my_trades("BTC/USDT")),
        "free": {a: ex.fetch_balance()[a]["free"] for a in ("BTC", "USDT")},
    }


def until_equal(a, b):
    """Polls until the replica's view equals the primary's (a replica follows asynchronously);
    the limit is a liveness bound, not a measurement."""
    deadline = time.time() + 60
    while True:
        va, vb = view(a), view(b)
        if va == vb or time.time() > deadline:
            return va, vb
        time.sleep(0.05)


primary, replica = client(config["primary"]), client(config["replica"])
if phase == "follow":
    # Account 7 sells (it holds BTC and USDT here: the setup funds it both) and buys.
    for i in range(10):
        primary.create_order("BTC/USDT", "limit", "sell", 0.01, 30000 + 10 * i)
        primary.create_order("BTC/USDT", "limit", "buy", 0.01, 29000 - 10 * i)
    primary.create_order("BTC/USDT", "limit", "buy", 0.025, 30010)  # takes 0.01 at 30000 and 0.01 at 30010 (self-trade allowed)
    va, vb = until_equal(primary, replica)
    check("the replica shows what the primary shows", va == vb, (va, vb))
    check("with the book and trades the orders made", len(va["trades"]) == 4 and len(va["open"]) == 19, va)
    try:
        replica.create_order("BTC/USDT", "limit", "buy", 0.01, 28000)
        check("an order sent to a replica is refused", False, "accepted")
    except ccxt.BaseError as e:  # ccxt calls -1001 OperationFailed (a network error: try again)
        text = str(e)
        check("an order sent to a replica is refused with -1001", "-1001" in text, text)
        check("naming the primary", config["primary"] in text, text)
else:
    before = view(replica)
    order = replica.create_order("BTC/USDT", "limit", "buy", 0.01, 30020)
    check("the promoted replica takes orders with the primary's key", order["status"] == "closed", order)
    after = view(replica)
    check("matched against the book it received", len(after["trades"]) == len(before["trades"]) + 2
          and len(after["open"]) == len(before["open"]) - 1, (before, after))
print("all checks passed")
