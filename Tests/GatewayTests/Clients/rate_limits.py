#!/usr/bin/env python3
"""Rate limits as Binance applies them, against a node started with --request-weight 60/2 and
--order-limits 5/2,1000/86400: request weight per IP in 2-second windows (429, Retry-After,
then recovery), the ban of an IP that keeps going (418), new orders per account.
Usage: rate_limits.py CONFIG.json"""
import hashlib
import hmac
import http.client
import json
import sys
import time
import urllib.parse

from checks import check

config = json.load(open(sys.argv[1]))
host, port = config["base"][len("http://"):].split(":")
port = int(port)


def get(path, source="127.0.0.1", key=None, method="GET"):
    connection = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
    connection.request(method, path, headers={"X-MBX-APIKEY": key} if key else {})
    r = connection.getresponse()
    body = json.loads(r.read())
    connection.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def wait_for_window_start():
    """Sleeps to just after a 2-second window begins, so that a burst falls in one window."""
    now = time.time()
    time.sleep(2 - now % 2 + 0.05)


limits = get("/api/v3/exchangeInfo")[2]["rateLimits"]
check("exchangeInfo lists the limits", limits == [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 2, "limit": 60},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 2, "limit": 5},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 1000}], limits)

# Depth of up to 100 levels weighs 5: twelve fit in 60, the thirteenth is refused.
wait_for_window_start()
used = []
for i in range(12):
    status, headers, body = get("/api/v3/depth?symbol=BTCUSDT", source="127.0.0.3")
    check(f"request {i + 1} within the limit", status == 200, (status, body))
    used.append(int(headers["x-mbx-used-weight-2s"]))
check("the used weight counts up by each request's weight", used == list(range(5, 65, 5)), used)
status, headers, body = get("/api/v3/depth?symbol=BTCUSDT", source="127.0.0.3")
check("past the limit: 429 with Retry-After", status == 429 and body["code"] == -1003
      and 1 <= int(headers["retry-after"]) <= 2, (status, headers, body))
status, headers, body = get("/api/v3/ping", source="127.0.0.4")
check("another IP is not limited", status == 200 and headers["x-mbx-used-weight-2s"] == "1", headers)
time.sleep(int(get("/api/v3/ping", source="127.0.0.3")[1]["retry-after"]))
status, headers, body = get("/api/v3/depth?symbol=BTCUSDT", source="127.0.0.3")
check("after Retry-After the IP is served again", status == 200 and headers["x-mbx-used-weight-2s"] == "5",
      (status, headers))

# An IP that keeps going after 429s is banned: 418, Retry-After of 2 minutes.
wait_for_window_start()
statuses = [get("/api/v3/exchangeInfo", source="127.0.0.5")[0] for _ in range(3)]
for _ in range(11):
    status, headers, body = get("/api/v3/ping", source="127.0.0.5")
check("the requests after the first 429 are refused", statuses == [200, 200, 200], statuses)
check("an IP that keeps going is banned", status == 418 and int(headers["retry-after"]) == 120
      and "banned until" in body["msg"], (status, headers, body))
time.sleep(2.1)
status, headers, body = get("/api/v3/ping", source="127.0.0.5")
check("a ban outlasts the window", status == 418, status)

# New orders per account: 5 in 2 seconds.
key = config["buyer"]


def order(i):
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1",
              "price": "100", "newClientOrderId": f"limit-{i}", "timestamp": int(time.time() * 1000)}
    q = urllib.parse.urlencode(params)
    s = hmac.new(key["secret_key"].encode(), q.encode(), hashlib.sha256).hexdigest()
    return get("/api/v3/order?" + q + "&signature=" + s, key=key["api_key"], method="POST")


wait_for_window_start()
counts = []
for i in range(5):
    status, headers, body = order(i)
    check(f"order {i + 1} within the limit", status == 200, (status, body))
    counts.append((headers["x-mbx-order-count-2s"], headers["x-mbx-order-count-1d"]))
check("order counts in the headers", counts == [(str(n), str(n)) for n in range(1, 6)], counts)
status, headers, body = order(5)
check("the sixth order in the window is refused", status == 429 and body["code"] == -1015 and "retry-after" in headers,
      (status, body))
time.sleep(int(headers["retry-after"]))
status, headers, body = order(6)
check("orders are taken again in the next window", status == 200 and headers["x-mbx-order-count-2s"] == "1"
      and headers["x-mbx-order-count-1d"] == "6", (status, headers, body))
print("all checks passed")
