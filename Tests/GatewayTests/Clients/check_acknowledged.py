#!/usr/bin/env python3
"""Every order in ACKED (lines `clientOrderId orderId`) is on the node, by id and by client id,
resting, and among the open orders. Usage: check_acknowledged.py CONFIG.json ACKED"""
import hashlib
import hmac
import json
import sys
import time
import urllib.parse

import requests

config = json.load(open(sys.argv[1]))
key = config["buyer"]
session = requests.Session()


def signed(path, params):
    params = dict(params, timestamp=int(time.time() * 1000), recvWindow=60000)
    query = urllib.parse.urlencode(params)
    signature = hmac.new(key["secret_key"].encode(), query.encode(), hashlib.sha256).hexdigest()
    r = session.get(config["base"] + path + "?" + query + "&signature=" + signature,
                    headers={"X-MBX-APIKEY": key["api_key"]}, timeout=10)
    return r.status_code, r.json()


acked = [line.split() for line in open(sys.argv[2]) if line.strip()]
status, open_orders = signed("/api/v3/openOrders", {"symbol": "BTCUSDT"})
open_ids = {o["orderId"] for o in open_orders}
for client_id, order_id in acked:
    status, order = signed("/api/v3/order", {"symbol": "BTCUSDT", "orderId": order_id})
    if status != 200 or order["clientOrderId"] != client_id or order["status"] != "NEW":
        print(f"LOST acknowledged order {client_id} ({order_id}): HTTP {status} {order}")
        sys.exit(1)
    status, by_client = signed("/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": client_id})
    if status != 200 or by_client["orderId"] != int(order_id):
        print(f"order {client_id} not found by its client id: {by_client}")
        sys.exit(1)
    if int(order_id) not in open_ids:
        print(f"order {order_id} is not among the open orders")
        sys.exit(1)
print(f"all {len(acked)} acknowledged orders are there; {len(open_ids)} open")
