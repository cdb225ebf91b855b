"""Drives Samco's public client `stocknotebridge` 3.2.2, unmodified, against the Samco emulator.

Run by test_stocknote_contract.py with the python of the client's own venv (isolated: nothing of
this tree is importable): `python stocknote_driver.py URL API_KEY API_SECRET open|closed WS_URL`. The
client's base URL is its ApiClient configuration's `host` (snapi_py_client/configuration.py: every
call is `configuration.host + path`), pointed at the emulator on 127.0.0.1. One JSON line per call:
{"call", "ok", "error", facts...}; a call is ok when the client returned Samco's Success envelope
(the client raises on no HTTP status: it hands back the body, or None when a method declares no
response type, so the body is read from `api_client.last_response`) and the facts read are right.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from snapi_py_client.snapi_bridge import StocknoteAPIPythonBridge

SYMBOL, EXCHANGE = "RELIANCE", "NSE"
TICK = Decimal("0.05")
STREAM_WAIT_S = 10.0


class Driver:
    def __init__(self, url: str, api_key: str, api_secret: str, ws_url: str = "") -> None:
        self.api_key, self.api_secret, self.ws_url = api_key, api_secret, ws_url
        self.samco = StocknoteAPIPythonBridge()
        self.samco.api_client.configuration.host = url  # the client's own setting, not a patch
        self.facts: dict[str, Any] = {}

    def body(self, answer: Any) -> dict[str, Any]:
        """What the call answered: the client's return value, else the last response's body."""
        if answer is None:
            answer = self.samco.api_client.last_response.data
        if isinstance(answer, bytes):
            answer = answer.decode()
        return json.loads(answer) if isinstance(answer, str) else answer

    def call(self, name: str, make: Callable[[], Any], check: Callable[[dict[str, Any]], str | None] | None = None) -> dict[str, Any]:
        row: dict[str, Any] = {"call": name, "ok": False}
        try:
            body = self.body(make())
            row["status"] = body.get("status")
            row["statusMessage"] = body.get("statusMessage")
            problem = None if body.get("status") == "Success" else f"not a Success: {body}"
            if problem is None and check is not None:
                problem = check(body)
            row["ok"], row["error"] = problem is None, problem
            row["body"] = body
        except Exception as exc:  # noqa: BLE001 - every failure is a row
            row["error"] = repr(exc)
            row["trace"] = traceback.format_exc()
        print(json.dumps(row, default=str), flush=True)
        return row.get("body") or {}

    def refused(self, name: str, make: Callable[[], Any], words: str) -> None:
        """A call the venue must refuse: ok when the Failure envelope names `words`."""
        row: dict[str, Any] = {"call": name, "ok": False}
        try:
            body = self.body(make())
            message = str(body.get("statusMessage", ""))
            row["ok"] = body.get("status") == "Failure" and words.lower() in message.lower()
            row["error"] = None if row["ok"] else f"expected a Failure naming {words!r}: {body}"
            row["statusMessage"] = message
        except Exception as exc:  # noqa: BLE001
            row["error"] = repr(exc)
        print(json.dumps(row, default=str), flush=True)

    # --- the calls ------------------------------------------------------------------------------

    def login(self) -> None:
        """The v3.2 session token. The client's `generate_session_token(body=...)` cannot be called:
        it passes `body` twice to `_v32_call` (a TypeError before any request: the client's defect,
        shared/venues/sdk-facts.md 1.2), so the row says so, and the token is asked for through the
        client's own `_v32_call`, the route the SDK notes give."""
        creds = {"apiKey": self.api_key, "apiSecret": self.api_secret}
        self.call("generate_session_token", lambda: self.samco.generate_session_token(body=creds))
        answer = self.call("session_token", lambda: self.samco._v32_call("/session/token", "POST", body=creds, require_session=False),
                           lambda b: None if b.get("sessionToken") else "no sessionToken")
        self.samco.set_session_token(answer.get("sessionToken") or "none")

    def ltp(self) -> Decimal:
        quote = self.call("get_quote", lambda: self.samco.get_quote(symbol_name=SYMBOL, exchange=EXCHANGE),
                          lambda b: None if b.get("symbolName") == SYMBOL and Decimal(b.get("lastTradedPrice") or 0) > 0 else "no price")
        return Decimal(quote.get("lastTradedPrice") or "1000")

    def order(self, price: Decimal, *, amo: bool = False, side: str = "BUY") -> dict[str, Any]:
        return {
            "symbolName": SYMBOL, "exchange": EXCHANGE, "transactionType": side, "orderType": "L",
            "quantity": "1", "price": str(price.quantize(TICK)), "orderValidity": "DAY", "productType": "CNC",
            "afterMarketOrderFlag": "YES" if amo else "NO", "disclosedQuantity": "0",
        }

    def open_market(self) -> None:
        s = self.samco
        self.login()
        self.call("whoami", s.whoami)
        self.call("get_limits", s.get_limits, lambda b: None if b.get("equityLimit") else "no equityLimit")
        ltp = self.ltp()
        self.call("search_equity_derivative", lambda: s.search_equity_derivative(search_symbol_name=SYMBOL, exchange=EXCHANGE),
                  lambda b: None if any(r.get("tradingSymbol", "").startswith(SYMBOL) for r in b.get("searchResults", [])) else "not found")
        self.call("get_intraday_candle_data", lambda: s.get_intraday_candle_data(
            symbol_name=SYMBOL, exchange=EXCHANGE, from_date="2026-12-07 09:15:00"), lambda b: _listed(b, "intradayCandleData"))
        self.call("get_historical_candle_data", lambda: s.get_historical_candle_data(
            symbol_name=SYMBOL, exchange=EXCHANGE, from_date="2026-11-01"), lambda b: _listed(b, "historicalCandleData"))
        resting = self.call("place_order", lambda: s.place_order(body=self.order(round_tick(ltp * Decimal("0.95")))),
                            lambda b: None if b.get("orderNumber") else "no orderNumber")
        number = resting.get("orderNumber", "")
        self.call("get_order_status", lambda: s.get_order_status(order_number=number),
                  lambda b: _word(b.get("orderStatus"), "pending", "open"))
        self.call("modify_order", lambda: s.modify_order(order_number=number, body={
            "orderType": "L", "quantity": "2", "price": str(round_tick(ltp * Decimal("0.94"))), "orderValidity": "DAY"}))
        self.call("get_order_book", s.get_order_book,
                  lambda b: None if any(r.get("orderNumber") == number and (r.get("totalQuanity") or r.get("quantity")) == "2"
                                        for r in b.get("orderBookDetails", [])) else "the modified order is not in the book")
        self.call("cancel_order", lambda: s.cancel_order(order_number=number))
        self.call("get_order_status_cancelled", lambda: s.get_order_status(order_number=number),
                  lambda b: _word(b.get("orderStatus"), "cancelled"))
        filled = self.call("place_order_marketable", lambda: s.place_order(body=self.order(round_tick(ltp * Decimal("1.02")))),
                           lambda b: None if b.get("orderNumber") else "no orderNumber")
        number = filled.get("orderNumber", "")
        self.call("get_trade_book", s.get_trade_book,
                  lambda b: None if any(r.get("orderNumber") == number for r in b.get("tradeBookDetails", [])) else "no trade")
        stop = dict(self.order(round_tick(ltp * Decimal("1.06"))), orderType="SL", triggerPrice=str(round_tick(ltp * Decimal("1.05"))))
        waiting = self.call("place_order_stop", lambda: s.place_order(body=stop), lambda b: None if b.get("orderNumber") else "no orderNumber")
        self.call("get_order_status_stop", lambda: s.get_order_status(order_number=waiting.get("orderNumber", "")),
                  lambda b: _word(b.get("orderStatus"), "trigger pending"))
        self.call("cancel_order_stop", lambda: s.cancel_order(order_number=waiting.get("orderNumber", "")))
        market = dict(self.order(ltp), orderType="MKT", price="0", orderValidity="IOC")
        done = self.call("place_order_market", lambda: s.place_order(body=market), lambda b: None if b.get("orderNumber") else "no orderNumber")
        self.call("get_order_status_market", lambda: s.get_order_status(order_number=done.get("orderNumber", "")),
                  lambda b: _word(b.get("orderStatus"), "executed", "complete"))
        self.call("get_positions_data_day", lambda: s.get_positions_data(position_type="DAY"), lambda b: _listed(b, "positionDetails"))
        self.call("get_positions_data_net", lambda: s.get_positions_data(position_type="NET"), lambda b: _listed(b, "positionDetails"))
        self.call("get_holding", s.get_holding, lambda b: _listed(b, "holdingDetails"))
        self.stream()
        self.call("logout", s.logout)
        self.refused("get_limits_after_logout", s.get_limits, "session")

    def stream(self) -> None:
        token = "2885_NSE"  # RELIANCE's streaming id in the scrip master
        self.call("start_streaming", lambda: stream_once(self.samco, self.ws_url, token),
                  lambda b: None if b["tick"].get("sym") == token and Decimal(b["tick"].get("ltp") or 0) > 0 else f"tick {b['tick']}")

    def closed_market(self) -> None:
        s = self.samco
        self.login()
        ltp = self.ltp()
        self.refused("place_order_market_closed", lambda: s.place_order(body=self.order(round_tick(ltp * Decimal("0.95")))), "market")
        amo = self.call("place_order_amo", lambda: s.place_order(body=self.order(round_tick(ltp * Decimal("0.95")), amo=True)),
                        lambda b: None if b.get("orderNumber") else "no orderNumber")
        number = amo.get("orderNumber", "")
        self.call("get_order_status_amo", lambda: s.get_order_status(order_number=number),
                  lambda b: _word(b.get("orderStatus"), "after market order req received"))
        self.call("cancel_order_amo", lambda: s.cancel_order(order_number=number))
        self.call("get_limits_closed", s.get_limits)


def stream_once(samco: StocknoteAPIPythonBridge, ws_url: str, token: str) -> dict[str, Any]:
    """`start_streaming` (it blocks) in a thread until the first tick for `token`, bounded."""
    got: list[str] = []
    done = threading.Event()

    def on_message(ws: Any, msg: str) -> None:
        got.append(msg)
        done.set()
        ws.close()

    samco.STREAMING_URL = ws_url  # the instance's own setting (shared/venues/public-clients.md)
    samco.on_message = on_message  # type: ignore[method-assign]
    samco.on_close = lambda *a: done.set()  # type: ignore[method-assign]
    samco.set_streaming_data([token], streaming_type=samco.STREAMING_TYPE_QUOTE)
    thread = threading.Thread(target=samco.start_streaming, kwargs={"verify_ssl": False}, daemon=True)
    thread.start()
    done.wait(STREAM_WAIT_S)
    if not got:
        return {"status": "Failure", "statusMessage": "no tick within the wait"}
    tick = json.loads(got[0].strip().splitlines()[0])
    tick = tick.get("response", {}).get("data", tick) if "response" in tick else tick
    return {"status": "Success", "tick": tick}


def round_tick(price: Decimal) -> Decimal:
    return (price / TICK).to_integral_value() * TICK


def _listed(body: dict[str, Any], key: str) -> str | None:
    return None if isinstance(body.get(key), list) and body[key] else f"no {key}"


def _word(word: Any, *expected: str) -> str | None:
    return None if str(word).strip().lower() in expected else f"status {word!r}, expected one of {expected}"


def main() -> None:
    url, api_key, api_secret, phase, ws_url = sys.argv[1:6]
    driver = Driver(url, api_key, api_secret, ws_url)
    driver.open_market() if phase == "open" else driver.closed_market()


if __name__ == "__main__":
    main()
