"""Drives ccxt 1.50.1's unmodified `gopax` client against a GOPAX emulator; run by
test_ccxt_contract.py with the throwaway venv's python, never imported by the test suite.

    python ccxt_driver.py URL API_KEY B64SECRET

Prints one JSON line per call: {"call", "ok", "error", ...facts the test checks}. A call that
raises counts as failed, except where the call is expected to raise (`expect`)."""

from __future__ import annotations

import json
import sys
import time
import traceback

import ccxt

SYMBOL = "BTC/KRW"
TICK = 1000  # GOPAX's KRW tick above 2,000,000


def emit(call: str, ok: bool, error: str | None = None, **facts: object) -> None:
    print(json.dumps({"call": call, "ok": ok, "error": error, **facts}, default=str), flush=True)


def run(call: str, fn, check=None, expect: type[Exception] | None = None):  # type: ignore[no-untyped-def]
    """Call `fn`; `check(result)` gives (ok, facts). With `expect`, raising it is the success."""
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
        if expect is not None and isinstance(exc, expect):
            emit(call, True, None, raised=type(exc).__name__, message=str(exc)[:300])
        else:
            emit(call, False, f"{type(exc).__name__}: {str(exc)[:500]}", trace=traceback.format_exc()[-1500:])
        return None
    if expect is not None:
        emit(call, False, f"expected {expect.__name__}, got a result", result=str(result)[:500])
        return None
    ok, facts = check(result) if check else (True, {})
    emit(call, ok, None if ok else f"unexpected result: {json.dumps(facts, default=str)[:500]}", **facts)
    return result if ok else None


def main() -> int:
    url, key, secret = sys.argv[1:4]
    ex = ccxt.gopax({"apiKey": key, "secret": secret, "timeout": 10_000, "enableRateLimit": True})
    ex.urls["api"] = {"public": url, "private": url}

    def markets_ok(m):  # type: ignore[no-untyped-def]
        btc = m.get(SYMBOL, {})
        return SYMBOL in m and btc.get("precision", {}).get("amount") is not None and btc["precision"].get("price") is not None, {
            "symbols": sorted(m), "precision": btc.get("precision"), "limits": btc.get("limits"),
        }

    run("load_markets", lambda: ex.load_markets(True), markets_ok)
    ticker = run("fetch_ticker", lambda: ex.fetch_ticker(SYMBOL), lambda t: (
        bool(t.get("bid")) and bool(t.get("ask")) and t["bid"] < t["ask"], {"bid": t.get("bid"), "ask": t.get("ask"), "last": t.get("last")}))
    run("fetch_order_book", lambda: ex.fetch_order_book(SYMBOL), lambda b: (
        bool(b["bids"]) and bool(b["asks"]) and b["bids"][0][0] < b["asks"][0][0],
        {"best_bid": b["bids"][:1], "best_ask": b["asks"][:1], "nonce": b.get("nonce")}))
    run("fetch_trades", lambda: ex.fetch_trades(SYMBOL), lambda ts: (
        bool(ts) and all(t.get("symbol") == SYMBOL and (t.get("price") or 0) > 0 and t.get("side") in ("buy", "sell") for t in ts),
        {"count": len(ts), "first": {k: ts[0].get(k) for k in ("id", "price", "amount", "side")} if ts else None}))
    run("fetch_time", ex.fetch_time, lambda t: (isinstance(t, int) and t > 0, {"time": t}))
    run("fetch_tickers", ex.fetch_tickers, lambda ts: (
        SYMBOL in ts and ts[SYMBOL].get("close") is not None, {"symbols": sorted(ts), "close": ts.get(SYMBOL, {}).get("close")}))
    run("fetch_ohlcv", lambda: ex.fetch_ohlcv(SYMBOL, "1m"), lambda rows: (
        bool(rows) and all(len(r) == 6 and r[3] <= min(r[1], r[4]) <= max(r[1], r[4]) <= r[2] for r in rows),  # [t, o, h, l, c, v]
        {"count": len(rows), "first": rows[:1]}))
    run("fetch_balance", ex.fetch_balance, lambda b: (
        b.get("KRW", {}).get("free") is not None, {"KRW": b.get("KRW"), "BTC": b.get("BTC")}))

    bid = (ticker or {}).get("bid") or 100_000_000
    far = int(bid * 0.8) // TICK * TICK
    placed = run("create_order", lambda: ex.create_order(SYMBOL, "limit", "buy", 0.001, far), lambda o: (
        bool(o.get("id")) and o.get("status") == "open", {"id": o.get("id"), "status": o.get("status"), "price": o.get("price")}))
    oid = (placed or {}).get("id")
    run("fetch_order", lambda: ex.fetch_order(oid, SYMBOL), lambda o: (
        o.get("id") == oid and o.get("status") == "open" and o.get("symbol") == SYMBOL and o.get("amount") == 0.001,
        {"id": o.get("id"), "status": o.get("status"), "symbol": o.get("symbol"), "amount": o.get("amount"), "remaining": o.get("remaining")}))
    run("fetch_open_orders", lambda: ex.fetch_open_orders(SYMBOL), lambda os_: (
        any(o.get("id") == oid and o.get("status") == "open" for o in os_), {"ids": [o.get("id") for o in os_]}))
    run("cancel_order", lambda: ex.cancel_order(oid, SYMBOL), lambda o: (o.get("id") == oid, {"id": o.get("id")}))
    run("fetch_order_cancelled", lambda: ex.fetch_order(oid, SYMBOL), lambda o: (
        o.get("status") == "canceled", {"status": o.get("status")}))
    run("fetch_orders_past", lambda: ex.fetch_orders(SYMBOL), lambda os_: (
        any(o.get("id") == oid and o.get("status") == "canceled" for o in os_), {"ids": [o.get("id") for o in os_]}))
    cid = "ccxt-1"
    by_cid = run("create_order_client_id", lambda: ex.create_order(SYMBOL, "limit", "buy", 0.001, far, {"clientOrderId": cid}), lambda o: (
        o.get("clientOrderId") == cid and o.get("status") == "open", {"id": o.get("id"), "clientOrderId": o.get("clientOrderId")}))
    run("fetch_order_client_id", lambda: ex.fetch_order(None, SYMBOL, {"clientOrderId": cid}), lambda o: (
        o.get("id") == (by_cid or {}).get("id") and o.get("status") == "open", {"id": o.get("id"), "status": o.get("status")}))
    run("cancel_order_client_id", lambda: ex.cancel_order(None, SYMBOL, {"clientOrderId": cid}), lambda o: (True, {}))
    run("fetch_order_client_id_cancelled", lambda: ex.fetch_order(None, SYMBOL, {"clientOrderId": cid}), lambda o: (
        o.get("status") == "canceled", {"status": o.get("status")}))
    run("fetch_order_unknown", lambda: ex.fetch_order("987654321987", SYMBOL), expect=ccxt.OrderNotFound)

    filled = run("create_market_order", lambda: ex.create_order(SYMBOL, "market", "sell", 0.001), lambda o: (
        bool(o.get("id")), {"id": o.get("id"), "status": o.get("status"), "filled": o.get("filled")}))
    fid = (filled or {}).get("id")
    deadline = time.monotonic() + 5
    while fid is not None:  # the market order fills at once on the emulator; give it a moment anyway
        try:
            done = ex.fetch_order(fid, SYMBOL)
        except Exception:  # noqa: BLE001 - reported by the call below
            break
        if done.get("status") == "closed" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # ccxt 1.50.1 takes `filled` from balanceChange.baseNet, GOPAX's signed change of the base
    # balance: a sell's is negative at the venue too, so ccxt reads -0.001 for this sell.
    run("fetch_filled_order", lambda: ex.fetch_order(fid, SYMBOL), lambda o: (
        o.get("status") == "closed" and abs(o.get("filled") or 0) == 0.001 and bool(o.get("cost")),
        {"status": o.get("status"), "filled": o.get("filled"), "cost": o.get("cost")}))
    ask = ex.fetch_ticker(SYMBOL).get("ask") or bid  # a market buy's amount is KRW to spend: ccxt sends price * amount
    run("create_market_buy_order", lambda: ex.create_order(SYMBOL, "market", "buy", 0.001, ask), lambda o: (
        bool(o.get("id")) and o.get("status") == "closed" and 1000 <= (o.get("amount") or 0) <= 0.001 * ask, {"id": o.get("id"), "amount": o.get("amount"), "status": o.get("status")}))
    run("fetch_my_trades", lambda: ex.fetch_my_trades(SYMBOL), lambda ts: (
        any(str(t.get("order")) == str(fid) for t in ts) and all(t.get("symbol") == SYMBOL for t in ts),
        {"count": len(ts), "first": {k: ts[0].get(k) for k in ("id", "order", "symbol", "side", "price", "amount", "takerOrMaker")} if ts else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
