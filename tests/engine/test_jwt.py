"""HS256 tokens: the smallcase seed's published samples verify; tampering and expiry are refused."""

from __future__ import annotations

import pytest

from engine.venue import jwt

SEED_SECRET = "have-a-good-day"
GUEST = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJndWVzdCI6dHJ1ZSwiZXhwIjoyNTU2MTI0MTk5fQ."
    "PHmNnVVqhtB7sZjo5_VWlOs5p_HQzIr3qaS9CV0kiAo"
)
CONNECTED = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzbWFsbGNhc2VBdXRoSWQiOiI1ZjAzMjFiNWYzNzQzYzMxZDk1YWJkMzUiLCJleHAiOjI1NTYxMjQxOTl9."
    "EC6B435Xsw02dDy_LCmHqKmEmJOqhq3f2MuSOjUmxYs"
)


def _payload(token: str) -> dict[str, object]:
    import base64
    import json

    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_the_seed_sample_tokens_carry_the_documented_payloads() -> None:
    assert _payload(GUEST) == {"guest": True, "exp": 2556124199}
    assert _payload(CONNECTED) == {"smallcaseAuthId": "5f0321b5f3743c31d95abd35", "exp": 2556124199}


@pytest.mark.parametrize("token", [GUEST, CONNECTED], ids=["guest", "connected"])
def test_the_seed_samples_are_not_signed_with_the_secret_the_seed_names(token: str) -> None:
    """A finding, pinned: HS256 over the samples' own header.payload with "have-a-good-day"
    gives another signature than the one published (checked against 195 variants of the key as
    well), so the seed's samples were signed with some other secret. A strict verifier — ours,
    and the emulator's — refuses them; tokens made with the named secret verify (below)."""
    with pytest.raises(jwt.JwtError) as err:
        jwt.decode(token, SEED_SECRET)
    assert err.value.reason == "bad_signature"
    remade = jwt.encode(_payload(token), SEED_SECRET)
    assert remade.split(".")[:2] == token.split(".")[:2]  # same header and payload bytes ...
    assert remade.split(".")[2] != token.split(".")[2]  # ... another signature


def test_tokens_made_with_the_seed_secret_verify_and_keep_their_payload() -> None:
    for payload in (_payload(GUEST), _payload(CONNECTED)):
        token = jwt.encode(payload, SEED_SECRET)
        assert jwt.decode(token, SEED_SECRET, now_s=1_700_000_000) == payload


def test_a_token_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(jwt.JwtError) as err:
        jwt.decode(GUEST, "not-the-secret")
    assert err.value.reason == "bad_signature"


def test_a_tampered_payload_is_refused() -> None:
    head, _, sig = GUEST.split(".")
    forged_body = jwt.encode({"guest": False, "exp": 2556124199}, "x").split(".")[1]
    with pytest.raises(jwt.JwtError) as err:
        jwt.decode(f"{head}.{forged_body}.{sig}", SEED_SECRET)
    assert err.value.reason == "bad_signature"


def test_an_expired_token_is_refused_and_leeway_is_honoured() -> None:
    token = jwt.encode({"guest": True, "exp": 1000}, "s")
    assert jwt.decode(token, "s", now_s=999.999)["exp"] == 1000
    with pytest.raises(jwt.JwtError) as err:
        jwt.decode(token, "s", now_s=1001)
    assert err.value.reason == "expired"
    assert jwt.decode(token, "s", now_s=1001, leeway_s=5)["guest"] is True


@pytest.mark.parametrize(("now_s", "leeway_s"), [(1000, 0.0), (1005, 5.0)], ids=["at exp", "at exp + leeway"])
def test_a_token_is_expired_at_exactly_its_exp(now_s: float, leeway_s: float) -> None:
    """RFC 7519 4.1.4: the token must not be accepted "on or after" its exp."""
    token = jwt.encode({"guest": True, "exp": 1000}, "s")
    with pytest.raises(jwt.JwtError) as err:
        jwt.decode(token, "s", now_s=now_s, leeway_s=leeway_s)
    assert err.value.reason == "expired"


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "!!.??.**"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(jwt.JwtError) as err:
        jwt.decode(token, "s")
    assert err.value.reason == "malformed"


def test_a_token_with_another_algorithm_is_refused() -> None:
    none_alg = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJndWVzdCI6dHJ1ZX0."
    with pytest.raises(jwt.JwtError) as err:
        jwt.decode(none_alg, "s")
    assert err.value.reason in ("unsupported", "malformed")
