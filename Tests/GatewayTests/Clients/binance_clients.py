#!/usr/bin/env python3
"""Drives a node's Binance API with Binance's official Python SDK (binance-sdk-spot) and ccxt,
unchanged but for the base URL, and checks every answer against what the market set up by
GatewayClientTests must give (amounts worked out by hand in the comments).

Usage: binance_clients.py CONFIG.json   (written by the Swift test: base URL and keys)
Prints one line per check; exits 1 at the first failure, naming it.
"""
import hashlib
import hmac
import json
import sys
import time
import urllib.parse
from decimal import Decimal as D

import ccxt
import requests
from binance_common.configuration import ConfigurationRestAPI
from binance_sdk_spot.spot import Spot
from binance_sdk_spot.rest_api.models import (
    NewOrderSideEnum, NewOrderTypeEnum, NewOrderTimeInForceEnum, NewOrderNewOrderRespTypeEnum,
    OrderCancelReplaceSideEnum, OrderCancelReplaceTypeEnum, OrderCancelReplaceCancelReplaceModeEnum,
    OrderCancelReplaceTimeInForceEnum)

config = json.load(open(sys.argv[1]))
BASE = config["base"]
step = 0


def check(name, condition, detail=""):
    global step
    step += 1
    if not condition:
        print(f"FAILED {step} {name}: {detail}")
        sys.exit(1)
    print(f"ok {step} {name}")


def sdk(key, **extra):
    return Spot(config_rest_api=ConfigurationRestAPI(api_key=key["api_key"], base_path=BASE, retries=0,
                                                     timeout=10000, **extra)).rest_api


def ccxt_client(key):
    ex = ccxt.binance({"apiKey": key["api_key"], "secret": key["secret_key"], "enableRateLimit": False,
                       "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                                   "fetchMargins": False, "adjustForTimeDifference": False}})
    ex.urls["api"]["public"] = BASE + "/api/v3"
    ex.urls["api"]["private"] = BASE + "/api/v3"
    return ex


def raw(method, path, params, key=None, secret=None, sign=True, timestamp=None, body=False):
    """A request made by hand: Binance's HMAC-SHA256 over the query string, sent in the query
    (or, with body=True, in a form body)."""
    params = dict(params)
    headers = {}
    if key:
        headers["X-MBX-APIKEY"] = key
    if sign:
        params["timestamp"] = timestamp if timestamp is not None else int(time.time() * 1000)
        query = urllib.parse.urlencode(params)
        params["signature"] = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    if body:
        r = requests.request(method, BASE + path, data=params, headers=headers, timeout=10)
    else:
        r = requests.request(method, BASE + path, params=params, headers=headers, timeout=10)
    return r.status_code, r.json()


seller_key, buyer_key = config["seller"], config["buyer"]
seller = sdk(seller_key, api_secret=seller_key["secret_key"])

# --- Market data and placing with the official SDK (account 8, the seller) ---
check("ping", seller.ping().data() is not None)
server = seller.time().data().server_time
check("time", abs(server - time.time() * 1000) < 5000, server)
info = seller.exchange_info(symbol="BTCUSDT").data()
symbol = info.symbols[0]
filters = {f["filterType"]: f for f in (f.to_dict() for f in symbol.filters)}
check("exchangeInfo filters", symbol.symbol == "BTCUSDT" and filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
      and filters["LOT_SIZE"]["stepSize"] == "0.00001000" and filters["NOTIONAL"]["minNotional"] == "5.00000000",
      filters)

s1 = seller.new_order(symbol="BTCUSDT", side=NewOrderSideEnum.SELL, type=NewOrderTypeEnum.LIMIT,
                      time_in_force=NewOrderTimeInForceEnum.GTC, quantity=D("1"), price=D("30000"),
                      new_client_order_id="s1", new_order_resp_type=NewOrderNewOrderRespTypeEnum.FULL).data()
check("SDK limit sell rests", s1.status == "NEW" and s1.client_order_id == "s1" and s1.fills == []
      and s1.orig_qty == "1.00000000" and s1.price == "30000.00000000", s1)
s2 = seller.new_order(symbol="BTCUSDT", side=NewOrderSideEnum.SELL, type=NewOrderTypeEnum.LIMIT,
                      time_in_force=NewOrderTimeInForceEnum.GTC, quantity=D("0.5"), price=D("30100"),
                      new_order_resp_type=NewOrderNewOrderRespTypeEnum.ACK).data()
check("SDK ACK answer", s2.order_id == s1.order_id + 1 and len(s2.client_order_id) == 22, s2)
book = seller.depth(symbol="BTCUSDT", limit=5).data()
check("depth", book.bids == [] and book.asks == [["30000.00000000", "1.00000000"], ["30100.00000000", "0.50000000"]],
      book)

# --- Taking with ccxt (account 7, the buyer; taker fee 0.2%, maker fee 0.1%) ---
buyer = ccxt_client(buyer_key)
m = buyer.create_order("BTC/USDT", "market", "buy", 0.3)
check("ccxt market buy fills at the best ask", m["status"] == "closed" and m["filled"] == 0.3 and m["average"] == 30000
      and m["fee"]["currency"] == "BTC" and abs(m["fee"]["cost"] - 0.0006) < 1e-12, m)
q = buyer.create_order("BTC/USDT", "market", "buy", None, None, {"quoteOrderQty": "3000"})
check("ccxt market buy by quote amount", q["filled"] == 0.1 and q["cost"] == 3000, q)
l = buyer.create_order("BTC/USDT", "limit", "buy", 0.7, 30100)
trades_of_l = l["trades"]
check("ccxt limit buy sweeps two levels", l["status"] == "closed" and l["filled"] == 0.7
      and [(t["price"], t["amount"]) for t in trades_of_l] == [(30000, 0.6), (30100, 0.1)], l)
try:
    buyer.create_order("BTC/USDT", "limit", "buy", 0.1, 30100, {"postOnly": True})
    check("LIMIT_MAKER that would take is refused", False, "it was accepted")
except ccxt.BaseError as e:
    check("LIMIT_MAKER that would take is refused", isinstance(e, ccxt.OrderImmediatelyFillable), repr(e))
rest = buyer.create_order("BTC/USDT", "limit", "buy", 0.2, 29000)
check("ccxt open orders", [o["id"] for o in buyer.fetch_open_orders("BTC/USDT")] == [rest["id"]])
cancelled = buyer.cancel_order(rest["id"], "BTC/USDT")
check("ccxt cancel", cancelled["status"] == "canceled", cancelled)
check("ccxt fetch a cancelled order", buyer.fetch_order(rest["id"], "BTC/USDT")["status"] == "canceled")
mine = buyer.fetch_my_trades("BTC/USDT")
check("ccxt my trades", [(t["price"], t["amount"], t["takerOrMaker"]) for t in mine]
      == [(30000, 0.3, "taker"), (30000, 0.1, "taker"), (30000, 0.6, "taker"), (30100, 0.1, "taker")], mine)
balance = buyer.fetch_balance()
# Bought 1.0 BTC at 30000 and 0.1 at 30100: 33010 USDT spent of 100000; 1.1 BTC less 0.2% = 1.0978.
check("ccxt balances", balance["USDT"]["free"] == 66990 and balance["USDT"]["used"] == 0
      and abs(balance["BTC"]["total"] - 1.0978) < 1e-12, balance["total"])

# --- Reading with the SDK ---
account = seller.get_account().data()
held = {b.asset: (b.free, b.locked) for b in account.balances}
# Sold 1.1 BTC of 10, 0.4 still offered; received 33010 USDT less 0.1% maker fee (33.01).
check("SDK account", held == {"BTC": ("8.50000000", "0.40000000"), "USDT": ("32976.99000000", "0.00000000")}, held)
orders = seller.all_orders(symbol="BTCUSDT").data()
check("SDK all orders", [(o.client_order_id, o.status, o.executed_qty) for o in orders]
      == [("s1", "FILLED", "1.00000000"), (s2.client_order_id, "PARTIALLY_FILLED", "0.10000000")], orders)
one = seller.get_order(symbol="BTCUSDT", orig_client_order_id="s1").data()
check("SDK order by client id", one.order_id == s1.order_id and one.cummulative_quote_qty == "30000.00000000", one)
klines = seller.klines(symbol="BTCUSDT", interval="1m").data()
volume = sum(D(k[5]) for k in klines)
count = sum(k[8] for k in klines)
check("SDK klines", volume == D("1.1") and count == 4 and klines[0][1] == "30000.00000000"
      and klines[-1][4] == "30100.00000000", klines)
recent = seller.get_trades(symbol="BTCUSDT").data()
check("SDK recent trades", [(t.price, t.qty, t.is_buyer_maker) for t in recent]
      == [("30000.00000000", "0.30000000", False), ("30000.00000000", "0.10000000", False),
          ("30000.00000000", "0.60000000", False), ("30100.00000000", "0.10000000", False)], recent)
price = raw("GET", "/api/v3/ticker/price", {"symbol": "BTCUSDT"}, sign=False)
check("ticker price", price == (200, {"symbol": "BTCUSDT", "price": "30100.00000000"}), price)
top = raw("GET", "/api/v3/ticker/bookTicker", {"symbol": "BTCUSDT"}, sign=False)[1]
check("book ticker", top["askPrice"] == "30100.00000000" and top["askQty"] == "0.40000000"
      and top["bidQty"] == "0.00000000", top)
day = buyer.fetch_ticker("BTC/USDT")
check("ccxt 24h ticker", day["baseVolume"] == 1.1 and day["last"] == 30100 and day["open"] == 30000, day)
ccxt_book = buyer.fetch_order_book("BTC/USDT")
check("ccxt order book", ccxt_book["asks"] == [[30100.0, 0.4]] and ccxt_book["bids"] == [], ccxt_book)

# --- Amend, cancel-replace and aggregate trades with the SDK (account 8 alone) ---
s3 = seller.new_order(symbol="BTCUSDT", side=NewOrderSideEnum.SELL, type=NewOrderTypeEnum.LIMIT,
                      time_in_force=NewOrderTimeInForceEnum.GTC, quantity=D("0.3"), price=D("31000"),
                      new_client_order_id="s3").data()
amended = seller.order_amend_keep_priority(symbol="BTCUSDT", new_qty=D("0.2"), order_id=s3.order_id).data()
check("SDK amend keepPriority", amended.amended_order.qty == "0.20000000" and amended.amended_order.status == "NEW"
      and amended.amended_order.client_order_id == "s3", amended)
asks = seller.depth(symbol="BTCUSDT").data().asks
check("the amended order's level", asks == [["30100.00000000", "0.40000000"], ["31000.00000000", "0.20000000"]], asks)
replaced = seller.order_cancel_replace(
    symbol="BTCUSDT", side=OrderCancelReplaceSideEnum.SELL, type=OrderCancelReplaceTypeEnum.LIMIT,
    cancel_replace_mode=OrderCancelReplaceCancelReplaceModeEnum.STOP_ON_FAILURE,
    time_in_force=OrderCancelReplaceTimeInForceEnum.GTC, quantity=D("0.25"), price=D("31500"),
    cancel_orig_client_order_id="s3", new_client_order_id="s4").data()
check("SDK cancelReplace", replaced.cancel_result == "SUCCESS" and replaced.new_order_result == "SUCCESS"
      and replaced.cancel_response.status == "CANCELED" and replaced.new_order_response.client_order_id == "s4", replaced)
asks = seller.depth(symbol="BTCUSDT").data().asks
check("cancelReplace moved the order", asks == [["30100.00000000", "0.40000000"], ["31500.00000000", "0.25000000"]], asks)
sk = seller_key
code = raw("POST", "/api/v3/order/cancelReplace", {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                                  "timeInForce": "GTC", "quantity": "0.1", "price": "31600",
                                                  "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": 999999},
           sk["api_key"], sk["secret_key"])
check("cancelReplace of an unknown order places nothing", code[0] == 400 and code[1]["code"] == -2022
      and code[1]["data"]["cancelResult"] == "FAILURE" and code[1]["data"]["newOrderResult"] == "NOT_ATTEMPTED"
      and code[1]["data"]["cancelResponse"]["code"] == -2011, code)
code = raw("DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, sk["api_key"], sk["secret_key"])
check("cancel all open orders", code[0] == 200 and all(o["status"] == "CANCELED" for o in code[1])
      and sorted(o["origClientOrderId"] for o in code[1]) == sorted([s2.client_order_id, "s4"]), code)
for price in ("32000", "32000"):
    seller.new_order(symbol="BTCUSDT", side=NewOrderSideEnum.SELL, type=NewOrderTypeEnum.LIMIT,
                     time_in_force=NewOrderTimeInForceEnum.GTC, quantity=D("0.1"), price=D(price))
sweep = seller.new_order(symbol="BTCUSDT", side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                         time_in_force=NewOrderTimeInForceEnum.GTC, quantity=D("0.2"), price=D("32000")).data()
check("a self-trade of two fills", sweep.status == "FILLED" and len(sweep.fills) == 2, sweep)
aggregates = seller.agg_trades(symbol="BTCUSDT").data()
last = aggregates[-1]
check("aggTrades joins one taker's fills at one price", len(aggregates) == 5 and last.p == "32000.00000000"
      and last.q == "0.20000000" and last.l == last.f + 1 and last.m is False, aggregates)
seller.new_order(symbol="BTCUSDT", side=NewOrderSideEnum.SELL, type=NewOrderTypeEnum.LIMIT,
                 time_in_force=NewOrderTimeInForceEnum.GTC, quantity=D("0.4"), price=D("30100"))

# --- Ed25519 key (account 7) with the SDK ---
ed = sdk(config["ed25519"], private_key=config["ed25519"]["private_key_path"])
ed_account = ed.get_account().data()
check("Ed25519-signed account request", {b.asset: b.free for b in ed_account.balances}["USDT"] == "66990.00000000",
      ed_account)
ed_order = ed.new_order(symbol="BTCUSDT", side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                        time_in_force=NewOrderTimeInForceEnum.IOC, quantity=D("0.1"), price=D("30100")).data()
check("Ed25519-signed order", ed_order.status == "FILLED" and ed_order.fills[0].commission == "0.00020000", ed_order)

# --- Refusals, each with Binance's code ---
wrong = ccxt_client({"api_key": buyer_key["api_key"], "secret_key": "x" * 64})
try:
    wrong.fetch_balance()
    check("a wrong signature is refused", False, "accepted")
except ccxt.AuthenticationError as e:
    check("a wrong signature is refused", "-1022" in str(e), e)
b = buyer_key
code = raw("GET", "/api/v3/account", {}, b["api_key"], b["secret_key"], timestamp=int(time.time() * 1000) - 70000)
check("an expired timestamp", code[0] == 400 and code[1]["code"] == -1021, code)
code = raw("GET", "/api/v3/account", {"recvWindow": 60001}, b["api_key"], b["secret_key"])
check("recvWindow over 60000", code[1]["code"] == -1131, code)
code = raw("GET", "/api/v3/account", {}, b["api_key"], b["secret_key"], timestamp=int(time.time() * 1000) + 5000)
check("a timestamp from the future", code[1]["code"] == -1021 and "ahead" in code[1]["msg"], code)
f = config["foreign"]
code = raw("GET", "/api/v3/account", {}, f["api_key"], f["secret_key"])
check("a key used from outside its IP whitelist", code == (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}), code)
r = config["readonly"]
code = raw("GET", "/api/v3/account", {}, r["api_key"], r["secret_key"])
check("a READ key reads", code[0] == 200 and code[1]["canTrade"] is False, code)
code = raw("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"},
           r["api_key"], r["secret_key"])
check("a READ key cannot trade", code[1]["code"] == -2015, code)
code = raw("GET", "/api/v3/account", {}, "nosuchkey", "x")
check("an unknown key", code[1]["code"] == -2015, code)
code = raw("GET", "/api/v3/account", {}, None, "x")
check("no key at all", code[0] == 401 and code[1]["code"] == -2014, code)
code = raw("GET", "/api/v3/depth", {"symbol": "NOPE"}, sign=False)
check("an unknown symbol", code == (400, {"code": -1121, "msg": "Invalid symbol."}), code)
code = raw("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 999999}, b["api_key"], b["secret_key"])
check("an unknown order", code[1]["code"] == -2013, code)
code = raw("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 999999}, b["api_key"], b["secret_key"])
check("cancelling an unknown order", code[1]["code"] == -2011, code)
code = raw("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": s1.order_id}, b["api_key"], b["secret_key"])
check("another account's order is not found", code[1]["code"] == -2013, code)
code = raw("GET", "/api/v3/depth", {"symbol": "BTCUSDT", "colour": "red"}, sign=False)
check("an unknown parameter", code[1]["code"] == -1104, code)
status = requests.get(BASE + "/api/v3/depth?symbol=BTCUSDT&symbol=ETHUSDT", timeout=10).json()
check("a repeated parameter", status["code"] == -1101, status)
code = raw("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                      "quantity": "1e-05", "price": "30000"}, b["api_key"], b["secret_key"])
check("a quantity that is not a plain decimal", code[1]["code"] == -1100, code)
code = raw("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                      "quantity": "0.000001", "price": "30000"}, b["api_key"], b["secret_key"])
check("a quantity off the step size", code[1] == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}, code)
code = raw("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                      "quantity": "1000", "price": "30000"}, b["api_key"], b["secret_key"], body=True)
check("insufficient balance (parameters in a form body)", code[1] == {"code": -2010, "msg": "Account has insufficient balance for requested action."}, code)
code = raw("POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_LOSS", "quantity": "1"},
           b["api_key"], b["secret_key"])
check("an order type this exchange does not have", code[1]["code"] == -1116, code)
test = raw("POST", "/api/v3/order/test", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                          "quantity": "0.1", "price": "1"}, b["api_key"], b["secret_key"])
check("order/test answers {} and places nothing", test == (200, {}) and buyer.fetch_open_orders("BTC/USDT") == [], test)
# --- Bad input of every kind: an error or a closed connection, never a stall ---
import socket
r_ = requests.post(BASE + "/api/v3/order", data="x=" + "a" * 70_000, timeout=10)
check("a body over 64 KiB", r_.status_code == 413, r_.status_code)
code = raw("GET", "/api/v3/depth?symbol=%FF", {}, sign=False)
check("a parameter that is not UTF-8", code[1]["code"] == -1100, code)
for name, value in (("quantity", "99999999999999999999999999"), ("quantity", "0.0000000000000000001"),
                    ("price", "-5"), ("quantity", "1.2.3")):
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1", "price": "1"}
    params[name] = value
    code = raw("POST", "/api/v3/order", params, b["api_key"], b["secret_key"])
    check(f"an absurd {name} {value}", code[0] == 400 and code[1]["code"] in (-1100, -1013), code)
code = raw("GET", "/api/v3/account", {}, b["api_key"], b["secret_key"], timestamp="99999999999999999999999")
check("an absurd timestamp", code[0] == 400 and code[1]["code"] == -1100, code)
code = raw("GET", "/api/v3/depth", {"symbol": "BTCUSDT", "limit": "100000000000000000000"}, sign=False)
check("an absurd limit", code[0] == 400 and code[1]["code"] == -1100, code)
try:
    big = requests.get(BASE + "/api/v3/ping", headers={"X-Junk": "j" * 200_000}, timeout=10)
    check("a huge header is refused", big.status_code >= 400, big.status_code)
except requests.RequestException as e:
    check("a huge header is refused (connection closed)", True, e)
# Fifty clients that send half a request and stop do not hold up anyone else.
slow = []
for _ in range(50):
    sock = socket.create_connection((BASE.split("//")[1].split(":")[0], int(BASE.rsplit(":", 1)[1])))
    sock.sendall(b"GET /api/v3/depth?symbol=BTCUSDT HTTP/1.1\r\nHost: x\r\n")
    slow.append(sock)
# (a stalled server would fail the requests' timeout)
statuses = [requests.get(BASE + "/api/v3/ping", timeout=10).status_code for _ in range(20)]
check("others are served while slow clients wait", statuses == [200] * 20, statuses)
for sock in slow:
    sock.close()
print("all checks passed")
