"""Drives Firstock's public client `firstock` 1.2.11, unmodified, against the Firstock emulator.

Run by test_firstock_contract.py with the python of the client's own venv (isolated: nothing of this
tree is importable), in a temporary folder (the client keeps its session in ./config.json):
`python firstock_driver.py URL USER PASSWORD TOTP STALE_TOTP VENDOR API_KEY`. The client's URLs are
module constants copied into each of its functions modules (`from firstock.Variables.enums import *`):
after the import, every `str` global of every `firstock*` module in sys.modules that starts with
https://api.firstock.in is given the emulator's address instead (no file of the client changes).
Its websocket takes its address from `config` (scheme, host, path). One JSON line per call:
{"call", "ok", "error", facts...}; a call is ok when the client handed back Firstock's success
envelope (it parses with ast.literal_eval: a JSON true/false/null would make it print the error and
return None) and the facts read are right.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from firstock import firstock
from firstock.websockets.websockets import Firstock, FirstockWebSocket

REAL = "https://api.firstock.in"
SYMBOL, EXCHANGE, TOKEN = "RELIANCE-EQ", "NSE", "2885"


def point_at(url: str) -> int:
    """Every URL constant of the client's modules, on the emulator; how many were changed."""
    changed = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("firstock") or module is None:
            continue
        for key, value in list(vars(module).items()):
            if isinstance(value, str) and value.startswith(REAL):
                setattr(module, key, url + value[len(REAL):])
                changed += 1
    return changed


class Driver:
    def __init__(self, user: str) -> None:
        self.user = user

    def call(self, name: str, make: Callable[[], Any], check: Callable[[dict[str, Any]], str | None] | None = None) -> dict[str, Any]:
        row: dict[str, Any] = {"call": name, "ok": False}
        try:
            body = make()
            if not isinstance(body, dict):
                raise TypeError(f"the client returned {body!r} (it prints and returns None when it cannot parse)")
            row["status"] = body.get("status")
            problem = None if str(body.get("status")).lower() == "success" else f"not a success: {body}"
            if problem is None and check is not None:
                problem = check(body)
            row["ok"], row["error"], row["body"] = problem is None, problem, body
        except Exception as exc:  # noqa: BLE001 - every failure is a row
            row["error"] = repr(exc)
            row["trace"] = traceback.format_exc()
        print(json.dumps(row, default=str), flush=True)
        return row.get("body") or {}

    def refused(self, name: str, make: Callable[[], Any], field: str) -> None:
        """A login the venue must refuse: ok when the failed envelope names `field`."""
        row: dict[str, Any] = {"call": name, "ok": False}
        try:
            body = make()
            error = body.get("error") if isinstance(body, dict) else None
            row["ok"] = isinstance(body, dict) and body.get("status") == "failed" and isinstance(error, dict) and error.get("field") == field
            row["error"] = None if row["ok"] else f"expected a failed login naming {field!r}: {body!r}"
            row["body"] = body
        except Exception as exc:  # noqa: BLE001
            row["error"] = repr(exc)
        print(json.dumps(row, default=str), flush=True)


def data(body: dict[str, Any]) -> Any:
    return body.get("data")


def run(url: str, user: str, password: str, totp: str, stale_totp: str, vendor: str, api_key: str) -> None:
    d = Driver(user)
    print(json.dumps({"pointed": point_at(url)}), flush=True)
    d.refused("login_wrong_password", lambda: firstock.login(user, password + "x", totp, vendor, api_key), "password")
    d.refused("login_stale_totp", lambda: firstock.login(user, password, stale_totp, vendor, api_key), "TOTP")
    d.call("login", lambda: firstock.login(user, password, totp, vendor, api_key),
           lambda b: None if data(b).get("susertoken") else "no susertoken")
    quote = d.call("getQuote", lambda: firstock.getQuote(EXCHANGE, SYMBOL, user),
                   lambda b: None if float(data(b)["lastTradedPrice"]) > 0 else "no price")
    bid = float(data(quote)["bestBuyPrice1"]) if quote else 1290.0
    low = f"{round(bid * 0.95 / 0.05) * 0.05:.2f}"
    placed = d.call("placeOrder", lambda: firstock.placeOrder(EXCHANGE, SYMBOL, "1", low, "C", "B", "LMT", "DAY", "0", "contract", user),
                    lambda b: None if data(b).get("orderNumber") else "no orderNumber")
    number = (data(placed) or {}).get("orderNumber", "")
    d.call("orderBook", lambda: firstock.orderBook(user),
           lambda b: None if any(r["orderNumber"] == number and r["status"] == "OPEN" for r in data(b)) else "order not OPEN in the book")
    d.call("singleOrderHistory", lambda: firstock.singleOrderHistory(number, user),
           lambda b: None if data(b) and data(b)[0]["orderNumber"] == number else "no history")
    lower = f"{float(low) - 0.5:.2f}"
    d.call("modifyOrder", lambda: firstock.modifyOrder("1", number, "C", "0", lower, SYMBOL, "LMT", user, "DAY"))
    d.call("singleOrderHistory_modified", lambda: firstock.singleOrderHistory(number, user),
           lambda b: None if float(data(b)[0]["price"]) == float(lower) else f"price not {lower}: {data(b)[0]['price']}")
    d.call("cancelOrder", lambda: firstock.cancelOrder(number, user))
    d.call("singleOrderHistory_cancelled", lambda: firstock.singleOrderHistory(number, user),
           lambda b: None if data(b)[0]["status"] == "CANCELED" else f"not CANCELED: {data(b)[0]['status']}")
    high = f"{round(bid * 1.02 / 0.05) * 0.05:.2f}"
    filled = d.call("placeOrder_marketable", lambda: firstock.placeOrder(EXCHANGE, SYMBOL, "2", high, "C", "B", "LMT", "DAY", "0", "fills", user))
    done = (data(filled) or {}).get("orderNumber", "")
    d.call("tradeBook", lambda: firstock.tradeBook(user),
           lambda b: None if sum(int(r["fillQuantity"]) for r in data(b) if r["orderNumber"] == done) == 2 else "the fills are not in the trade book")
    d.call("positionBook", lambda: firstock.positionBook(user),
           lambda b: None if any(r["tradingSymbol"] == SYMBOL and int(r["netQuantity"]) == 2 for r in data(b)) else "no position of 2")
    d.call("holdings", lambda: firstock.holdings(user), lambda b: None if data(b) else "no holdings")
    d.call("limit", lambda: firstock.limit(user), lambda b: None if float(data(b)["cash"]) > 0 else "no cash")
    websocket(d, url, user)
    d.call("logout", lambda: firstock.logout(user))


def websocket(d: Driver, url: str, user: str) -> None:
    """The V2 socket: the handshake, a subscription, a tick, an order update."""
    ticks: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    got = threading.Event()

    def on_feed(frame: dict[str, Any]) -> None:
        ticks.append(frame)
        if orders:
            got.set()

    def on_order(frame: dict[str, Any]) -> None:
        orders.append(frame)
        if ticks:
            got.set()

    model = FirstockWebSocket(tokens=[f"{EXCHANGE}:{TOKEN}"], order_data=on_order, subscribe_feed_data=on_feed)
    host = url.split("://", 1)[1]
    row: dict[str, Any] = {"call": "websocket", "ok": False}
    try:
        ws, err = Firstock.initialize_websockets(user, model, config={"scheme": "ws", "host": host + "/V2", "path": "/ws"})
        if err:
            raise RuntimeError(str(err))
        firstock.placeOrder(EXCHANGE, SYMBOL, "1", "1200.00", "C", "B", "LMT", "DAY", "0", "socket", user)
        got.wait(10.0)
        Firstock.close_websocket(ws)
        row["ok"] = bool(ticks) and bool(orders) and ticks[0].get("c_symbol") == TOKEN
        row["error"] = None if row["ok"] else f"ticks {len(ticks)}, order updates {len(orders)}"
        row["tick"], row["order"] = (ticks or [None])[0], (orders or [None])[0]
    except Exception as exc:  # noqa: BLE001
        row["error"] = repr(exc)
        row["trace"] = traceback.format_exc()
    print(json.dumps(row, default=str), flush=True)


if __name__ == "__main__":
    run(*sys.argv[1:8])
