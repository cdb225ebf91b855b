"""The GoPocket session: the checksum exchange, the Bearer header, the 0600 session file, a refused
session renewed from the auth code or ended with one line saying how to log in again."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import aiohttp
import pytest

from adapters.gopocket.auth import GopocketSession, SessionStore, checksum
from adapters.gopocket.client import GopocketClient
from adapters.gopocket.emulator import GopocketEmulator
from engine.errors import AuthError
from tests.helpers import bounded

from .conftest import make_client, start_venue, venue_config


def test_the_checksum_is_sha256_of_user_auth_code_and_secret() -> None:
    assert checksum("AB1", "code", "secret") == hashlib.sha256(b"AB1codesecret").hexdigest()


async def test_a_good_checksum_gets_a_session_and_a_wrong_one_none(emulator: GopocketEmulator, client: GopocketClient) -> None:
    token = await bounded(client.exchange(checksum(emulator.user_id, emulator.auth_code, emulator.api_secret)))
    assert emulator.live_session(token)
    with pytest.raises(AuthError):
        await bounded(client.exchange(checksum(emulator.user_id, emulator.auth_code, "not-the-secret")))
    assert emulator.bad_checksums == 1 and emulator.logins == 1


async def test_the_session_goes_as_a_bearer_header_and_a_missing_or_made_up_one_is_refused(
    emulator: GopocketEmulator, client: GopocketClient,
) -> None:
    profile = await bounded(client.profile())
    assert profile[0].clientId == emulator.user_id
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": "Bearer made-up-session"}, {"Authorization": "Basic x"}):
            async with http.get(f"{emulator.url}/open-api/order/v1/profile/", headers=headers) as resp:
                assert resp.status == 401
                assert (await resp.json())["status"] == "Not_Ok"
        token = client.auth.current if client.auth else None
        async with http.get(f"{emulator.url}/open-api/order/v1/profile/",
                            headers={"Authorization": f"Bearer {emulator.user_id} {token}"}) as resp:
            assert resp.status == 200  # the AliceBlue v1 form is taken too
        async with http.get(f"{emulator.url}/open-api/order/v1/profile", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 404  # trailing slashes as the venue has them


async def test_a_refused_session_is_renewed_from_the_auth_code(emulator: GopocketEmulator, client: GopocketClient) -> None:
    await bounded(client.limits())
    assert emulator.expire_sessions()
    await bounded(client.limits())  # 401, a new exchange, the call again
    assert client.auth is not None and client.auth.exchanges == 2 and client.auth.refusals == 1


async def test_the_session_file_is_0600_and_used_by_the_next_run(emulator: GopocketEmulator, tmp_path: Path) -> None:
    first = await start_venue(emulator, tmp_path / "a", mode="paper")
    await first.close()
    path = tmp_path / "a" / "gopocket" / f"session-{emulator.user_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = SessionStore(path).load(emulator.user_id)
    assert stored is not None and emulator.live_session(stored)
    logins = emulator.logins
    second = await start_venue(emulator, tmp_path / "a", mode="paper", config=venue_config(emulator, auth_code=""))
    await second.close()
    assert emulator.logins == logins  # the stored session, no new exchange


async def test_a_run_without_any_session_ends_with_one_line_naming_run_py_login(emulator: GopocketEmulator, tmp_path: Path) -> None:
    with pytest.raises(AuthError) as refused:
        await start_venue(emulator, tmp_path, mode="paper", config=venue_config(emulator, auth_code=""))
    text = str(refused.value)
    assert "python run.py login gopocket" in text and "\n" not in text
    assert emulator.api_secret not in text


async def test_a_session_token_from_the_config_is_used_and_its_refusal_named(emulator: GopocketEmulator, tmp_path: Path) -> None:
    c = make_client(emulator)
    await c.start()
    token = await bounded(c.exchange(checksum(emulator.user_id, emulator.auth_code, emulator.api_secret)))
    await c.close()
    logins = emulator.logins
    h = await start_venue(emulator, tmp_path, mode="paper", config=venue_config(emulator, auth_code="", session_token=token))
    assert emulator.logins == logins
    emulator.expire_sessions()
    client = h.venue.client
    assert client is not None
    with pytest.raises(AuthError) as refused:
        await bounded(client.limits())
    assert "python run.py login gopocket" in str(refused.value)
    await h.close()


async def test_a_redirects_auth_code_works_once(emulator: GopocketEmulator) -> None:
    emulator.redirect_url = "http://127.0.0.1:9/cb"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emulator.url}/?appcode={emulator.app_code}", allow_redirects=False) as resp:
            assert resp.status == 302
            location = resp.headers["Location"]
        async with http.get(f"{emulator.url}/?appcode=WRONG", allow_redirects=False) as resp:
            assert resp.status == 400
    query = dict(part.split("=") for part in location.split("?", 1)[1].split("&"))
    assert query["userId"] == emulator.user_id
    c = GopocketClient("gopocket", emulator.url + "/", user_id=emulator.user_id)
    c.auth = GopocketSession("gopocket", c.exchange, user_id=emulator.user_id, api_secret=emulator.api_secret)
    await c.start()
    try:
        await bounded(c.auth.exchange_code(query["authCode"]))
        with pytest.raises(AuthError):
            await bounded(c.exchange(checksum(emulator.user_id, query["authCode"], emulator.api_secret)))
    finally:
        await c.close()


async def test_rate_limits_are_data_and_a_429_read_is_retried(emulator: GopocketEmulator) -> None:
    from adapters.gopocket.config import RateLimit

    c = GopocketClient("gopocket", emulator.url + "/", user_id="RL1",
                       rate_limits=[RateLimit(calls=50, per_s=1.0), RateLimit(calls=2, per_s=1.0, paths=["orders/placeorder"])])
    assert [paths for paths, _ in c.limiters] == [(), ("orders/placeorder",)]
    assert len(c._limiters("orders/placeorder")) == 2 and len(c._limiters("orders/book")) == 1
    c.auth = GopocketSession("gopocket", c.exchange, user_id=emulator.user_id, api_secret=emulator.api_secret,
                             auth_code=emulator.auth_code)
    await c.start()
    try:
        await bounded(c.limits())
        emulator.faults.burst_status, emulator.faults.burst_5xx = 429, 1
        assert await bounded(c.order_book()) == []  # a read: retried after the 429
        assert c.statuses.get(429) == 1
    finally:
        await c.close()


async def test_a_session_refused_mid_run_is_said_once_with_how_to_log_in(emulator: GopocketEmulator, tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    c = make_client(emulator)
    await c.start()
    token = await bounded(c.exchange(checksum(emulator.user_id, emulator.auth_code, emulator.api_secret)))
    await c.close()
    h = await start_venue(emulator, tmp_path, mode="paper", config=venue_config(emulator, auth_code="", session_token=token))
    client = h.venue.client
    assert client is not None
    try:
        emulator.expire_sessions()
        with capture_logs() as logs:
            for _ in range(3):
                with pytest.raises(AuthError):
                    await bounded(client.limits())
        told = [e for e in logs if e["log_level"] == "error"]
        assert len(told) == 1 and "python run.py login gopocket" in told[0]["event"]
    finally:
        await h.close()
