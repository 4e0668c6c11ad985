#!/usr/bin/env python3
"""After the node restarted on the same directory: the orders, trades and balances that
binance_clients.py left are all there, the keys still sign, and the revoked READ key is refused.
Usage: after_restart.py CONFIG.json"""
import json
import sys

import ccxt

from checks import check, ccxt_client

config = json.load(open(sys.argv[1]))
BASE = config["base"]


def client(key):
    return ccxt_client(BASE, key)


buyer = client(config["buyer"])
trades = buyer.fetch_my_trades("BTC/USDT")
check("trades survive a restart", len(trades) == 5, trades)
orders = buyer.fetch_orders("BTC/USDT")
check("orders survive a restart", [o["status"] for o in orders] == ["closed", "closed", "closed", "canceled", "closed"],
      [o["status"] for o in orders])
balance = buyer.fetch_balance()
check("balances survive a restart", balance["USDT"]["free"] == 66990 - 3010 and abs(balance["BTC"]["total"] - 1.1976) < 1e-12,
      balance["total"])
try:
    client(config["readonly"]).fetch_balance()
    check("a revoked key is refused", False, "accepted")
except ccxt.AuthenticationError as e:
    check("a revoked key is refused", "-2015" in str(e), e)
print("all checks passed")
