"""What the client scripts share: a named check that stops the script on failure, and a ccxt
Binance client pointed at a node."""
import sys


def check(name, condition, detail=""):
    """Prints "ok NAME", or "FAILED NAME: DETAIL" and exits 1."""
    if not condition:
        print(f"FAILED {name}: {detail}")
        sys.exit(1)
    print(f"ok {name}")


def ccxt_client(base, key):
    """ccxt's binance, unchanged but for its base URL, signing with KEY {"api_key", "secret_key"}."""
    import ccxt
    ex = ccxt.binance({"apiKey": key["api_key"], "secret": key["secret_key"],
                       "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}})
    ex.urls["api"]["public"] = base + "/api/v3"
    ex.urls["api"]["private"] = base + "/api/v3"
    return ex
