#!/usr/bin/env python3
"""WebSocket streams through Binance's official SDK (binance-sdk-spot) and plain aiohttp: a trade
and a depth subscription kept in sync by Binance's documented local-order-book procedure, a
user data stream receiving the fills of an order, and the SUBSCRIBE / LIST_SUBSCRIPTIONS
requests. Usage: streams.py CONFIG.json"""
import asyncio
import hashlib
import hmac
import json
import sys
import time
import urllib.parse
from decimal import Decimal as D

import aiohttp
import requests
from binance_common.configuration import ConfigurationWebSocketStreams
from binance_sdk_spot.spot import Spot

from checks import check

config = json.load(open(sys.argv[1]))
BASE = config["base"]
WS = BASE.replace("http://", "ws://")


def order(key, side, qty, price, tif="GTC"):
    params = {"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": tif, "quantity": qty,
              "price": price, "timestamp": int(time.time() * 1000)}
    q = urllib.parse.urlencode(params)
    s = hmac.new(key["secret_key"].encode(), q.encode(), hashlib.sha256).hexdigest()
    r = requests.post(BASE + "/api/v3/order?" + q + "&signature=" + s, headers={"X-MBX-APIKEY": key["api_key"]}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def as_dict(message):
    return message.to_dict() if hasattr(message, "to_dict") else message


async def wait_until(condition, seconds=10):
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def main():
    seller, buyer = config["seller"], config["buyer"]
    client = Spot(config_ws_streams=ConfigurationWebSocketStreams(stream_url=WS))
    connection = await client.websocket_streams.create_connection()
    trades, diffs, users = [], [], []
    trade_stream = await connection.trade(symbol="btcusdt")
    trade_stream.on("message", lambda m: trades.append(as_dict(m)))
    depth_stream = await connection.diff_book_depth(symbol="btcusdt", update_speed="100ms")
    depth_stream.on("message", lambda m: diffs.append(as_dict(m)))

    listen = requests.post(BASE + "/api/v3/userDataStream", headers={"X-MBX-APIKEY": buyer["api_key"]}, timeout=10).json()
    check("a listen key", len(listen["listenKey"]) == 60, listen)
    user_stream = await connection.user_data(listen["listenKey"])
    user_stream.on("message", lambda m: users.append(as_dict(m)))
    keep = requests.put(BASE + "/api/v3/userDataStream", params={"listenKey": listen["listenKey"]},
                        headers={"X-MBX-APIKEY": buyer["api_key"]}, timeout=10)
    check("keeping the listen key alive", keep.status_code == 200 and keep.json() == {}, keep.text)
    # The server answers requests on a connection in order: once it lists the subscriptions,
    # they are live.
    listed = await connection.list_subscribe()
    check("the SDK's subscriptions are live", sorted(listed["result"]) == sorted(
        ["btcusdt@trade", "btcusdt@depth@100ms", listen["listenKey"]]), listed)

    # The documented procedure: buffer the diffs, take a snapshot, drop what it includes, then
    # apply in order, the first applied one straddling the snapshot.
    for i in range(5):
        order(seller, "SELL", "0.1", str(30000 + 100 * i))
        order(buyer, "BUY", "0.1", str(29000 - 100 * i))
    snapshot = requests.get(BASE + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 1000}, timeout=10).json()
    for i in range(5):
        order(seller, "SELL", "0.2", str(30050 + 100 * i))
        order(buyer, "BUY", "0.3", "30100", tif="IOC")
    final = requests.get(BASE + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 1000}, timeout=10).json()
    check("the diffs reach the final update", await wait_until(lambda: diffs and diffs[-1]["u"] >= final["lastUpdateId"]),
          (diffs[-1:] if diffs else None, final["lastUpdateId"]))
    bids = {D(p): D(q) for p, q in snapshot["bids"]}
    asks = {D(p): D(q) for p, q in snapshot["asks"]}
    last = snapshot["lastUpdateId"]
    applied = 0
    for diff in diffs:
        if diff["u"] <= last:
            continue
        if applied == 0:
            check("the first diff applied straddles the snapshot", diff["U"] <= last + 1 <= diff["u"], (diff, last))
        else:
            check(f"diff {applied} follows the one before", diff["U"] == last + 1, (diff, last))
        for side, levels in ((bids, diff["b"]), (asks, diff["a"])):
            for p, q in levels:
                if D(q) == 0:
                    side.pop(D(p), None)
                else:
                    side[D(p)] = D(q)
        last = diff["u"]
        applied += 1
    check("the local book equals the node's", (bids, asks) == ({D(p): D(q) for p, q in final["bids"]},
                                                             {D(p): D(q) for p, q in final["asks"]}), (bids, asks, final))
    # The IOC buys take 0.1 at 30000 and 0.2 at 30050, then 0.1 at 30100; the rest expire.
    check("trades arrived over the stream", await wait_until(lambda: len(trades) >= 3), len(trades))
    check("trade messages", trades[0]["e"] == "trade" and trades[0]["s"] == "BTCUSDT" and trades[0]["p"] == "30000.00000000"
          and trades[0]["q"] == "0.10000000" and trades[0]["m"] is False, trades[0])

    # The buyer's fills reach its user data stream.
    # The SDK hands over each event as its model without the "e" it was chosen by.
    def kind(u):
        return u.get("e") or ("executionReport" if "x" in u else "outboundAccountPosition" if "B" in u else "balanceUpdate")
    kinds = lambda: [kind(u) for u in users]
    check("user data arrives", await wait_until(lambda: kinds().count("executionReport") >= 15), kinds())
    reports = [u for u in users if kind(u) == "executionReport"]
    check("a NEW report for each order", sum(1 for r in reports if r["x"] == "NEW") == 10, [r["x"] for r in reports])
    fills = [r for r in reports if r["x"] == "TRADE"]
    check("a TRADE report for each fill, with its price and fee", len(fills) == 3 and all(r["N"] == "BTC" for r in fills)
          and fills[0]["L"] == "30000.00000000" and fills[0]["l"] == "0.10000000" and fills[0]["m"] is False, fills[:2])
    check("IOC remainders expire", any(r["x"] == "EXPIRED" and r["X"] == "EXPIRED" for r in reports), [r["x"] for r in reports])
    check("balances follow each change", await wait_until(lambda: "outboundAccountPosition" in kinds()), kinds())
    await connection.close_connection()

    # Plain WebSocket: a raw stream, a combined stream, and the requests.
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(WS + "/stream?streams=btcusdt@trade/btcusdt@bookTicker") as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 7}))
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
            answers = [json.loads((await ws.receive(timeout=5)).data) for _ in range(2)]
            check("SUBSCRIBE and LIST_SUBSCRIPTIONS", answers == [
                {"result": None, "id": 7}, {"result": ["btcusdt@bookTicker", "btcusdt@kline_1m", "btcusdt@trade"], "id": 8}],
                answers)
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["nosuch@trade"], "id": 9}))
            refused = json.loads((await ws.receive(timeout=5)).data)
            check("an unknown stream is refused", refused["id"] == 9 and refused["error"]["code"] == 2, refused)
            order(seller, "SELL", "0.1", "29000")  # takes the best bid
            seen = {}
            while len(seen) < 3:
                message = json.loads((await ws.receive(timeout=5)).data)
                seen[message["stream"]] = message["data"]
            check("combined messages name their stream", seen["btcusdt@trade"]["p"] == "29000.00000000"
                  and seen["btcusdt@kline_1m"]["k"]["c"] == "29000.00000000" and "b" in seen["btcusdt@bookTicker"], seen)
        async with session.ws_connect(WS + "/ws/btcusdt@depth5@100ms") as ws:
            top = json.loads((await ws.receive(timeout=5)).data)
            check("a partial book stream", len(top["bids"]) <= 5 and "lastUpdateId" in top, top)
        try:
            async with session.ws_connect(WS + "/ws/nosuch@trade"):
                check("an unknown stream path is refused", False, "connected")
        except aiohttp.WSServerHandshakeError:
            check("an unknown stream path is refused", True)
    closed = requests.delete(BASE + "/api/v3/userDataStream", params={"listenKey": listen["listenKey"]},
                             headers={"X-MBX-APIKEY": buyer["api_key"]}, timeout=10)
    check("closing the listen key", closed.status_code == 200, closed.text)
    again = requests.put(BASE + "/api/v3/userDataStream", params={"listenKey": listen["listenKey"]},
                         headers={"X-MBX-APIKEY": buyer["api_key"]}, timeout=10)
    check("a closed listen key is unknown", again.json()["code"] == -1125, again.text)
    print("all checks passed")


asyncio.run(main())
