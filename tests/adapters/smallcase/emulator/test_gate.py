"""The emulated gateway's door: which auth tokens it lets through, on its own clock."""

from __future__ import annotations

from aiohttp import web

from adapters.smallcase.emulator.gate import Gate
from adapters.smallcase.emulator.market import ACCOUNTS, DEMO_AUTH_ID
from engine.venue import jwt

NOW_S = 2_000_000_000


def gate() -> Gate:
    return Gate("g", "s3cret", "api", now_ns=lambda: NOW_S * 10**9, users=ACCOUNTS)


def test_a_guest_and_a_known_user_pass_and_their_claims_are_kept() -> None:
    for payload in ({"guest": True, "exp": NOW_S + 60}, {"smallcaseAuthId": DEMO_AUTH_ID, "exp": NOW_S + 60}):
        assert gate().claims(jwt.encode(payload, "s3cret")) == payload


def test_an_unknown_user_a_wrong_secret_an_expired_token_or_one_without_a_user_are_refused() -> None:
    refused = {
        "user_mismatch": jwt.encode({"smallcaseAuthId": "0" * 24, "exp": NOW_S + 60}, "s3cret"),
        "invalid_jwt": jwt.encode({"guest": True, "exp": NOW_S + 60}, "other"),
        "expired": jwt.encode({"guest": True, "exp": NOW_S}, "s3cret"),
        "no user": jwt.encode({"exp": NOW_S + 60}, "s3cret"),
    }
    answers = {name: gate().claims(token) for name, token in refused.items()}

    assert all(isinstance(a, web.Response) and a.status == 401 for a in answers.values())
    names = {name: a.text for name, a in answers.items() if isinstance(a, web.Response)}
    assert '"user_mismatch"' in names["user_mismatch"]
    assert all('"invalid_jwt"' in names[n] for n in ("invalid_jwt", "expired", "no user"))
