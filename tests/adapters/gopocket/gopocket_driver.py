"""Drives GoPocket's public client `gopocket-tradehub-sdk-test` 1.0.0, unmodified, against the emulator.

Run by test_gopocket_contract.py with the python of the client's own venv (isolated: nothing of this
tree is importable): `python gopocket_driver.py URL USER AUTH_CODE SECRET REST_PRICE FILL_PRICE`. The
client is pointed at the emulator by its own constructor argument (`base_url`, ending in "/") and its
own attribute for the contract files (`_base_url_contract`). One JSON line per call: {"call", "ok",
"error", facts...}; a call is ok when the client handed back the venue's Ok envelope (or, for the
two refusals, when it handed back no session / a Not_ok) and the facts read are right.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

from TradeMaster.TradeSync import TradeHub


class Driver:
    def __init__(self, url: str, user: str, code: str, secret: str) -> None:
        self.url, self.user, self.code, self.secret = url, user, code, secret
        self.hub = TradeHub(user, code, secret, base_url=url + "/")
        self.hub._base_url_contract = url + "/contract/csv/"  # the client's own setting, not a patch

    def call(self, name: str, make: Callable[[], Any], check: Callable[[Any], str | None]) -> Any:
        row: dict[str, Any] = {"call": name, "ok": False}
        answer: Any = None
        try:
            answer = make()
            problem = check(answer)
            row["ok"], row["error"] = problem is None, problem
            row["answer"] = answer if isinstance(answer, (dict, list)) else repr(answer)
        except Exception as exc:  # noqa: BLE001 - every failure is a row
            row["error"] = repr(exc)
            row["trace"] = traceback.format_exc()
        print(json.dumps(row, default=str), flush=True)
        return answer


def ok(answer: Any) -> str | None:
    if isinstance(answer, dict) and answer.get("status") == "Ok":
        return None
    return f"not an Ok envelope: {answer}"


def with_rows(answer: Any) -> str | None:
    return ok(answer) or (None if answer.get("result") else "no rows")


def order_id(answer: Any) -> str:
    try:
        return str(answer["result"][0]["brokerOrderId"])
    except (KeyError, IndexError, TypeError):
        return ""


def main(url: str, user: str, code: str, secret: str, rest_price: str, fill_price: str) -> None:
    d = Driver(url, user, code, secret)
    wrong = TradeHub(user, code, "not-the-secret", base_url=url + "/")
    d.call("get_session_id_wrong_checksum", wrong.get_session_id,
           lambda a: None if a.get("stat") == "Not_ok" and wrong._session_id is None else f"a session: {a}")
    made_up = TradeHub(user, code, secret, base_url=url + "/", session_id="made-up-session")
    d.call("get_profile_made_up_session", made_up.get_profile,
           lambda a: None if a.get("stat") == "Not_ok" and "401" in str(a.get("emsg")) else f"not refused: {a}")
    d.call("get_session_id", d.hub.get_session_id, lambda a: None if a.get("userSession") else f"no session: {a}")
    d.call("get_profile", d.hub.get_profile,
           lambda a: ok(a) or (None if a["result"][0]["clientId"] == user else "another client"))
    d.call("get_funds", d.hub.get_funds, lambda a: ok(a) or (None if float(a["result"][0]["availableMargin"]) > 0 else "no funds"))
    d.call("get_contract_master", lambda: d.hub.get_contract_master("NSE"),
           lambda a: None if a.get("emsg") == "Today's contract file downloaded" else f"not downloaded: {a}")
    inst = d.call("get_instrument", lambda: d.hub.get_instrument("NSE", "SBIN"),
                  lambda a: None if getattr(a, "token", None) == "3045" and a.trading_symbol == "SBIN-EQ" else f"not SBIN: {a}")

    def place(price: str, tag: str, **kw: Any) -> Any:
        args = dict(transactionType="BUY", quantity="1", orderComplexity="REGULAR", product="CNC", orderType="LIMIT",
                    price=price, slTriggerPrice="", slLegPrice="", targetLegPrice="", validity="DAY", orderTag=tag)
        return d.hub.placeOrder(instrument=inst, **{**args, **kw})

    placed = d.call("placeOrder", lambda: place(rest_price, "ct-rest"), lambda a: ok(a) or (None if order_id(a) else "no id"))
    number = order_id(placed)
    d.call("get_orderbook", d.hub.get_orderbook,
           lambda a: ok(a) or (None if any(r["brokerOrderId"] == number and r["orderStatus"] == "OPEN" for r in a["result"]) else "not open in the book"))
    d.call("get_orderHistory", lambda: d.hub.get_orderHistory(number), with_rows)
    lower = f"{float(rest_price) - 0.5:.2f}"
    d.call("modifyOrder", lambda: d.hub.modifyOrder(number, lower, "", "", "", quantity="1", orderType="LIMIT", validity="DAY"), ok)
    d.call("cancelOrder", lambda: d.hub.cancelOrder(number), ok)
    d.call("get_orderbook_cancelled", d.hub.get_orderbook,
           lambda a: ok(a) or (None if any(r["brokerOrderId"] == number and r["orderStatus"] == "CANCELLED" for r in a["result"]) else "not cancelled"))
    d.call("placeOrder_marketable", lambda: place(fill_price, "ct-fill"), lambda a: ok(a) or (None if order_id(a) else "no id"))
    d.call("get_tradebook", d.hub.get_tradebook, with_rows)
    d.call("get_positions", d.hub.get_positions, with_rows)
    d.call("get_holdings", d.hub.get_holdings, with_rows)
    d.call("singleOrderMargin", lambda: d.hub.singleOrderMargin("BUY", "10", "REGULAR", "MIS", "LIMIT", rest_price, "", "", instrument=inst), with_rows)
    bracket = d.call("placeOrder_bracket", lambda: place(rest_price, "ct-bo", orderComplexity="BO", product="MIS",
                                                         targetLegPrice="5", slLegPrice="3"), ok)
    d.call("exitBracketOrder", lambda: d.hub.exitBracketOrder(order_id(bracket), "BO"), ok)
    d.call("positionSqrOff", lambda: d.hub.positionSqrOff("SELL", "1", "REGULAR", "CNC", "MARKET", "0", "", "", "", "DAY", instrument=inst), ok)


if __name__ == "__main__":
    main(*sys.argv[1:7])
