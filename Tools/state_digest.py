#!/usr/bin/env python3
"""The state digest of a state written out by hand, computed from Journal/FORMAT.md alone
("State digest"), not from the Swift code.

    state_digest.py STATE.json      prints the SHA-256 of the canonical serialization

STATE.json lists the engine's state as a person works it out from the commands: the id
counters; the assets and symbols in id order; every account with, per asset in id order, its
free and locked balance in smallest units; and each symbol's bids and asks, best price first,
each level's orders in time priority. The golden command journal's expected digest
(Journal/golden/commands-v1) is this program's answer for its hand-made state.json.
"""
import hashlib
import json
import struct
import sys


def string(text):
    data = text.encode("utf-8")
    return struct.pack("<I", len(data)) + data


def serialize(state):
    out = bytearray(b"XSTATE01")
    out += struct.pack("<QQ", state["next_order_id"], state["next_trade_id"])
    out += struct.pack("<I", len(state["assets"]))
    for asset in state["assets"]:
        out += string(asset["name"]) + struct.pack("<B", asset["scale"])
    out += struct.pack("<I", len(state["symbols"]))
    for s in state["symbols"]:
        out += string(s["name"])
        out += struct.pack("<IIBB", s["base"], s["quote"], s["price_decimals"], s["qty_decimals"])
        out += struct.pack("<qqqqq", s["tick"], s["step"], s["min_qty"], s["max_qty"], s["min_notional"])
        out += struct.pack("<qqB", s["maker_fee_ppm"], s["taker_fee_ppm"], 1 if s["halted"] else 0)
    accounts = sorted(state["accounts"], key=lambda a: a["id"])
    out += struct.pack("<I", len(accounts))
    for account in accounts:
        out += struct.pack("<Q", account["id"])
        assert len(account["balances"]) == len(state["assets"]), "one (free, locked) per asset"
        for free, locked in account["balances"]:
            out += struct.pack("<qq", free, locked)
    for s in state["symbols"]:
        for side in ("bids", "asks"):
            out += struct.pack("<I", len(s[side]))
            for level in s[side]:
                out += struct.pack("<qI", level["price"], len(level["orders"]))
                for order in level["orders"]:
                    out += struct.pack("<QQqq", order["order_id"], order["account"],
                                       order["remaining"], order["filled"])
                    if order["client_id"] is None:
                        out += b"\x00"
                    else:
                        out += b"\x01" + string(order["client_id"])
    return bytes(out)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        state = json.load(f)
    print(hashlib.sha256(serialize(state)).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
