"""GOPAX signing: vectors computed here from the published recipes, nonces that only grow."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.gopax.auth import GopaxAuth, NonceSource
from adapters.gopax.client import GopaxClient
from adapters.gopax.emulator import GopaxEmulator
from engine.errors import UserError
from engine.venue.rest import Response

from .conftest import ScriptedNonces, bounded, until

SECRET_BYTES = b"tickbus-gopax-test-secret-0123456789"
SECRET = base64.b64encode(SECRET_BYTES).decode()
KEY = "k" * 64


def recipe(message: str) -> str:
    """The seed's recipe, step by step: base64-decode the secret, HMAC-SHA512, base64."""
    raw_key = base64.b64decode(SECRET)
    digest = hmac.new(raw_key, message.encode("utf-8"), hashlib.sha512).digest()
    return base64.b64encode(digest).decode()


def fixed_ms(value: int) -> Callable[[], int]:
    """A clock stopped at `value` milliseconds."""
    return lambda: value


def test_current_scheme_signs_t_timestamp_method_path_body_with_the_recipe() -> None:
    auth = GopaxAuth(KEY, SECRET, now_ms=fixed_ms(1_601_032_379_683))
    body = b'{"side":"buy","type":"limit","amount":1,"price":10000,"tradingPairName":"BTC-KRW"}'

    headers = auth.headers("POST", "/orders", "", body)

    expected = recipe("t1601032379683POST/orders" + body.decode())
    assert headers == {"api-key": KEY, "timestamp": "1601032379683", "signature": expected}


def test_legacy_scheme_signs_nonce_method_path_body_in_the_seeds_headers() -> None:
    auth = GopaxAuth(KEY, SECRET, scheme="legacy", nonces=ScriptedNonces(1520994527165))

    headers = auth.headers("GET", "/balances", "", b"")

    assert headers == {"API-KEY": KEY, "SIGNATURE": recipe("1520994527165GET/balances"), "NONCE": "1520994527165"}


def test_current_scheme_signs_the_query_string_of_get_orders_only() -> None:
    auth = GopaxAuth(KEY, SECRET, now_ms=fixed_ms(1_000))

    orders = auth.headers("GET", "/orders", "includePast=true", b"")
    trades = auth.headers("GET", "/trades", "limit=1", b"")

    assert orders["signature"] == recipe("t1000GET/orders?includePast=true")
    assert trades["signature"] == recipe("t1000GET/trades")


def test_legacy_scheme_leaves_the_query_string_out_as_the_seeds_code_does() -> None:
    auth = GopaxAuth(KEY, SECRET, scheme="legacy", nonces=ScriptedNonces(5))

    headers = auth.headers("GET", "/orders", "includePast=true", b"")

    assert headers["SIGNATURE"] == recipe("5GET/orders")


def test_receive_window_is_signed_right_after_the_path_and_sent_as_a_header() -> None:
    auth = GopaxAuth(KEY, SECRET, receive_window_ms=5000, now_ms=fixed_ms(42))

    headers = auth.headers("DELETE", "/orders/123", "", b"")

    assert headers["signature"] == recipe("t42DELETE/orders/1235000")
    assert headers["receive-window"] == "5000"


def test_websocket_login_signs_t_plus_timestamp() -> None:
    auth = GopaxAuth(KEY, SECRET, now_ms=fixed_ms(1591318325140))

    assert auth.ws_params() == {"apiKey": KEY, "timestamp": "1591318325140", "signature": recipe("t1591318325140")}


def test_a_secret_that_is_not_base64_is_a_users_mistake() -> None:
    with pytest.raises(UserError, match="base64"):
        GopaxAuth(KEY, "not base64 !!")


async def test_nonces_strictly_increase_across_concurrent_tasks_on_a_frozen_clock() -> None:
    source = NonceSource(now_ms=fixed_ms(1_000_000))
    taken: list[int] = []

    async def worker() -> None:
        for _ in range(20):
            await asyncio.sleep(0)
            taken.append(source.next())

    await bounded(asyncio.gather(*(worker() for _ in range(25))))

    assert len(taken) == 500
    assert taken == sorted(taken) and len(set(taken)) == 500


def test_nonces_keep_increasing_across_a_restart_even_when_the_clock_went_back(tmp_path: Path) -> None:
    state = tmp_path / "nonce"
    first = NonceSource(state, now_ms=fixed_ms(2_000_000))
    used = [first.next() for _ in range(3)]

    restarted = NonceSource(state, now_ms=fixed_ms(1_000_000))  # the clock is now behind

    assert restarted.next() > max(used)


def test_a_restart_after_the_reserved_block_was_used_up_still_goes_higher(tmp_path: Path) -> None:
    state = tmp_path / "nonce"
    first = NonceSource(state, reserve=3, now_ms=fixed_ms(100))
    used = [first.next() for _ in range(10)]  # crosses several reserved blocks

    assert NonceSource(state, reserve=3, now_ms=fixed_ms(0)).next() > max(used)


class InFlight(GopaxClient):
    """Counts requests on the wire at once."""

    in_flight = 0
    most = 0

    async def request(self, *args: Any, **kwargs: Any) -> Response:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.001)  # give another task the chance to send meanwhile
            return await super().request(*args, **kwargs)
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize(("scheme", "one_at_a_time"), [("legacy", True), ("current", False)])
async def test_concurrent_private_calls_in_the_nonce_scheme_go_one_at_a_time(
    emulator: GopaxEmulator, tmp_path: Path, scheme: str, one_at_a_time: bool
) -> None:
    key, secret = (emulator.legacy_api_key, emulator.legacy_secret) if scheme == "legacy" else (emulator.api_key, emulator.secret)
    client = InFlight("gopax", emulator.url, auth=GopaxAuth(key, secret, scheme=scheme, nonces=NonceSource(tmp_path / "n")))  # type: ignore[arg-type]
    await client.start()
    try:
        results = await bounded(asyncio.gather(*(client.balances() for _ in range(15)), return_exceptions=True))
    finally:
        await client.close()

    assert [r for r in results if isinstance(r, BaseException)] == []
    assert emulator.requests["GET /balances"] == 15
    assert (client.most == 1) is one_at_a_time  # nonces reach the server in the order they were made


async def test_the_nonce_mark_is_written_off_the_event_loop(tmp_path: Path) -> None:
    import threading

    ticks = iter(range(1_000, 10_000_000))
    source = NonceSource(tmp_path / "nonce", reserve=100, now_ms=lambda: next(ticks))
    writers: list[str] = []
    store = source._store

    def recording(ceiling: int) -> None:
        writers.append(threading.current_thread().name)
        store(ceiling)

    source._store = recording  # type: ignore[method-assign]
    await bounded(source.prepare())
    taken = []
    for _ in range(500):  # five blocks' worth
        taken.append(source.next())
        await asyncio.sleep(0.001)
    await until(lambda: source._writing is None)

    loop_thread = threading.current_thread().name
    assert len(writers) >= 5 and loop_thread not in writers
    assert source.sync_writes == 0
    assert int((tmp_path / "nonce").read_text()) > max(taken) and taken == sorted(set(taken))
