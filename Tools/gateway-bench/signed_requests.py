#!/usr/bin/env python3
"""Writes N signed POST /api/v3/order requests for wrk (orders.lua): LIMIT orders of 0.01 at
30000.00, buys from key "a" and sells from key "b" in turn (so every second one trades), each
line `PATH?QUERY&signature=… APIKEY`, timestamped now with recvWindow 60000 (so they are valid
for a minute). Usage: signed_requests.py KEYS.json N OUT"""
import hashlib
import hmac
import json
import sys
import time
import urllib.parse

keys = json.load(open(sys.argv[1]))
n, out = int(sys.argv[2]), open(sys.argv[3], "w")
now = int(time.time() * 1000)
for i in range(n):
    key = keys["a"] if i % 2 == 0 else keys["b"]
    params = {"symbol": "BTCUSDT", "side": "BUY" if i % 2 == 0 else "SELL", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "0.01", "price": "30000.00", "newOrderRespType": "RESULT", "recvWindow": 60000,
              "timestamp": now}
    query = urllib.parse.urlencode(params)
    signature = hmac.new(key["secret_key"].encode(), query.encode(), hashlib.sha256).hexdigest()
    out.write(f"/api/v3/order?{query}&signature={signature} {key['api_key']}\n")
