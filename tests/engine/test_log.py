"""engine.log: secrets are redacted from every log event (by key, and by registered value, in
strings, nested data and exception text); JSON lines parse; a real run leaks no secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.log import REDACTED, _redact_rendered, is_secret_key, redact, register_secret, scrub

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


# --- the processor ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "api_key", "API-KEY", "x-api-key", "apiKey", "api_secret", "apiSecret", "secret", "client_secret",
        "token", "access_token", "sessionToken", "x-session-token", "susertoken", "jKey", "jkey",
        "password", "Passwd", "pin", "totp", "signature", "X-Signature", "authorization", "cookie",
        "checksum", "private_key", "passphrase", "refresh_token",
    ],
)
def test_secret_keys_are_recognised_in_any_spelling(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["event", "instrument", "qty", "price", "client_order_id", "keys", "spin_count", "venue"])
def test_ordinary_keys_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_masks_secret_keys_at_every_depth_and_keeps_the_rest() -> None:
    event = {
        "event": "login",
        "api_key": "k-123",
        "venue": "gopax",
        "headers": {"X-API-KEY": "k-123", "Content-Type": "json", "nested": {"jKey": "j-9", "n": 1}},
        "attempts": [{"password": "pw", "user": "me"}, ("token", {"sessionToken": "st"})],
    }
    out = redact(None, "info", event)
    assert out["api_key"] == REDACTED
    assert out["venue"] == "gopax"
    assert out["headers"]["X-API-KEY"] == REDACTED
    assert out["headers"]["Content-Type"] == "json"
    assert out["headers"]["nested"] == {"jKey": REDACTED, "n": 1}
    assert out["attempts"][0] == {"password": REDACTED, "user": "me"}
    assert isinstance(out["attempts"][1], tuple)
    assert out["attempts"][1][1] == {"sessionToken": REDACTED}


def test_registered_secret_values_are_replaced_inside_strings_anywhere() -> None:
    secret = "reg-secret-value-7f3a"
    register_secret(secret)
    event = {
        "event": f"GET https://api.example.invalid/?sig={secret}&x=1",
        "error": f"HTTPError('401 for key {secret}')",
        "deep": {"list": [f"a{secret}b", 5, None]},
    }
    out = redact(None, "error", event)
    text = json.dumps(out)
    assert secret not in text
    assert out["event"] == f"GET https://api.example.invalid/?sig={REDACTED}&x=1"
    assert out["deep"]["list"] == [f"a{REDACTED}b", 5, None]


def test_short_values_are_not_registered_as_secrets() -> None:
    register_secret("ab")
    out = redact(None, "info", {"event": "tab cab ab"})
    assert out["event"] == "tab cab ab"


def test_the_rendered_line_is_scrubbed_as_a_last_defence() -> None:
    secret = "rendered-secret-55aa"
    register_secret(secret)
    assert _redact_rendered(None, "info", f'{{"x": "{secret}"}}') == f'{{"x": "{REDACTED}"}}'


def test_scrub_masks_keys_and_values_for_non_log_output() -> None:
    register_secret("scrub-secret-1234")
    assert scrub({"api_secret": "x", "url": "u/scrub-secret-1234"}) == {"api_secret": REDACTED, "url": f"u/{REDACTED}"}


# --- configure(): a process of its own, so the loggers cached here stay untouched ------------

CONFIGURED = textwrap.dedent(
    """
    import structlog, sys
    from engine.log import configure, register_secret
    fmt = sys.argv[1]
    configure(fmt, "debug", stream=sys.stdout)
    SECRET = "S3CRET-" + "x" * 100   # longer than any repr truncation
    register_secret(SECRET)
    log = structlog.get_logger("t")
    log.info("plain", client_order_id="c1", qty="1")
    log.info(f"message with {SECRET}", api_key="k-unregistered-1", headers={"Authorization": "Bearer abc.def"})
    def login():
        token = SECRET
        api_secret = "locals-secret-unregistered-9"
        raise PermissionError(f"401: key {SECRET} refused")
    try:
        login()
    except Exception:
        log.exception("login failed")
    log.error("with exc_info", exc_info=ValueError(f"bad {SECRET}"))
    log.debug("debug shown")
    """
)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_configured_logging_redacts_secrets_from_messages_fields_and_exceptions(fmt: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CONFIGURED, fmt],
        cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for leaked in ("S3CRET", "xxxxxxxxxx", "k-unregistered-1", "abc.def", "locals-secret-unregistered-9"):
        assert leaked not in out, leaked
    assert "PermissionError" in out and "login failed" in out and "debug shown" in out
    if fmt == "json":
        lines = [json.loads(line) for line in out.splitlines()]  # every line is one JSON object
        assert [e["event"] for e in lines] == [
            "plain", f"message with {REDACTED}", "login failed", "with exc_info", "debug shown"
        ]
        assert lines[0]["client_order_id"] == "c1" and lines[0]["level"] == "info"
        assert lines[1]["api_key"] == REDACTED
        assert lines[1]["headers"] == {"Authorization": REDACTED}
        exc = lines[2]["exception"][0]
        assert exc["exc_type"] == "PermissionError"
        assert exc["exc_value"] == f"401: key {REDACTED} refused"
        assert all("locals" not in frame for frame in exc["frames"])


def test_unknown_format_or_level_is_refused() -> None:
    from engine.log import configure

    with pytest.raises(ValueError, match="unknown log format"):
        configure("xml")
    with pytest.raises(ValueError, match="unknown log level"):
        configure("json", "loud")


# --- a real run: a third-party venue with credentials from the environment -------------------

SECRET_VENUE = textwrap.dedent(
    """
    import msgspec, structlog
    from adapters.paper.synthetic import SyntheticConfig, SyntheticVenue

    log = structlog.get_logger("tb_secret_venue")

    class Config(SyntheticConfig, kw_only=True, forbid_unknown_fields=True):
        api_key: str
        api_secret: str
        account: str = "demo"

    class SecretVenue(SyntheticVenue):
        Config = Config

        async def connect(self):
            cfg = self.config
            log.info("venue config", config=msgspec.to_builtins(cfg))
            log.info(f"signing with {cfg.api_secret}", url=f"wss://x.invalid/?key={cfg.api_key}")
            session = "session-" + cfg.api_secret[::-1]
            log.info("session opened", jKey=session, sessionToken=session)
            try:
                raise ConnectionError(f"handshake refused for {cfg.api_key}:{cfg.api_secret}")
            except ConnectionError:
                log.exception("handshake failed, going on")
            await super().connect()
    """
)


def test_a_json_run_with_env_secrets_in_a_plugin_venue_never_prints_them(tmp_path: Path) -> None:
    (tmp_path / "tb_secret_venue.py").write_text(SECRET_VENUE)
    config = tmp_path / "secret_run.yaml"
    config.write_text(
        textwrap.dedent(
            """
            mode: paper
            journal: null
            progress_s: 0.5
            venues:
              sim:
                type: tb_secret_venue:SecretVenue
                api_key: ${TB_LOG_API_KEY}
                api_secret: ${TB_LOG_API_SECRET}
                interval_ms: 20
                instruments:
                  - {symbol: "BTC-KRW", price: 135000000, tick: 1000, lot: 0.0001, size: 2, move_prob: 0.6}
            paper:
              balances: {KRW: 50000000, BTC: 0}
            strategies:
              - name: grid
                plugin: grid
                instruments: ["sim:BTC-KRW"]
                params: {levels: 3, step_ticks: 1, qty: 0.01}
            """
        )
    )
    key, secret = "AKIA-test-key-0123456789", "very-secret-value-abcdefghijklmnop"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "TB_LOG_API_KEY": key, "TB_LOG_API_SECRET": secret}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), str(config), "--duration", "2", "--log-format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    everything = proc.stdout + proc.stderr
    for leaked in (key, secret, secret[::-1]):
        assert leaked not in everything
    records = [json.loads(line) for line in proc.stderr.splitlines()]  # every log line is JSON
    by_event = {r["event"]: r for r in records}
    assert by_event["venue config"]["config"]["api_secret"] == REDACTED
    assert by_event["venue config"]["config"]["api_key"] == REDACTED
    assert by_event["venue config"]["config"]["account"] == "demo"
    assert by_event[f"signing with {REDACTED}"]["url"] == f"wss://x.invalid/?key={REDACTED}"
    assert by_event["session opened"]["jKey"] == REDACTED
    assert by_event["handshake failed, going on"]["exception"][0]["exc_value"] == (
        f"handshake refused for {REDACTED}:{REDACTED}"
    )
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["run"] == "secret_run" and summary["reconciliation"]["ok"] is True


def test_a_venue_registers_its_configs_secret_fields_for_redaction() -> None:
    import msgspec

    from engine.clock import RealtimeClock
    from engine.data.bus import Bus
    from engine.log import redact
    from engine.venue.contract import Venue, VenueConfig, VenueContext

    class KeyedConfig(VenueConfig, kw_only=True):
        secret_fields = ("api_secret",)
        api_secret: str = ""
        account: str = ""

    class KeyedVenue(Venue):
        async def connect(self) -> None: ...
        async def close(self) -> None: ...
        async def instruments(self) -> list:  # type: ignore[override]
            return []

    config = KeyedConfig(api_secret="emulator-demo-secret-1234", account="acct-visible")
    KeyedVenue(VenueContext(name="k", bus=Bus(), clock=RealtimeClock(), sink=None), config)  # type: ignore[arg-type]
    event = redact(None, "info", {"event": "x", "detail": "signed with emulator-demo-secret-1234 for acct-visible"})
    assert event["detail"] == "signed with *** for acct-visible"
    assert msgspec.structs.asdict(config)["api_secret"] == "emulator-demo-secret-1234"  # the config keeps it
