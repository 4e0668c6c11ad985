#!/usr/bin/env python3
"""Places resting limit buys through the Binance API, one after another over one keep-alive
connection, and appends `clientOrderId orderId` to OUT once each is acknowledged, until the node
stops answering (the test kills it). Usage: order_loop.py CONFIG.json PREFIX OUT"""
import hashlib
import hmac
import json
import sys
import time
import urllib.parse

import requests

config = json.load(open(sys.argv[1]))
prefix, out = sys.argv[2], open(sys.argv[3], "a")
key = config["buyer"]
session = requests.Session()
n = 0
while True:
    client_id = f"{prefix}-{n}"
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.06",
              "price": f"{100 + n % 1000 / 100:.2f}", "newClientOrderId": client_id, "newOrderRespType": "ACK",
              "timestamp": int(time.time() * 1000)}
    query = urllib.parse.urlencode(params)
    signature = hmac.new(key["secret_key"].encode(), query.encode(), hashlib.sha256).hexdigest()
    try:
        r = session.post(config["base"] + "/api/v3/order?" + query + "&signature=" + signature,
                         headers={"X-MBX-APIKEY": key["api_key"]}, timeout=10)
    except requests.RequestException:
        break
    if r.status_code != 200:
        print(f"order {client_id}: HTTP {r.status_code} {r.text}")
        sys.exit(1)
    out.write(f"{client_id} {r.json()['orderId']}\n")
    out.flush()
    n += 1
print(f"{n} orders acknowledged")
