"""engine.ops.config: the http: and alerts: blocks, `--http`, and their secrets kept out of logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.app.commands import cmd_run
from engine.app.config import load_config
from engine.errors import ConfigError, UserError
from engine.log import scrub
from engine.ops.config import parse_listen
from tests.engine.ops._fixtures import write_config


def test_listen_addresses_default_to_the_loopback_and_bad_ones_are_refused() -> None:
    assert parse_listen(":8080") == ("127.0.0.1", 8080)
    assert parse_listen("0.0.0.0:0") == ("0.0.0.0", 0)
    for bad in ("8080", "host:port", "127.0.0.1:70000"):
        with pytest.raises(ValueError):
            parse_listen(bad)


def test_a_bad_http_listen_in_a_config_is_one_line_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"http\.listen: port is not a number"):
        load_config(write_config(tmp_path, extra='http: {listen: "127.0.0.1:x"}\n'))


def test_a_bad_http_flag_is_refused_before_the_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--http: expected HOST:PORT"):
        cmd_run(str(write_config(tmp_path)), duration=0, speed=None, log_format="console", http="nonsense")


def test_ops_secrets_from_the_environment_are_redacted(tmp_path: Path) -> None:
    extra = """
        http: {token: "${OPS_T}"}
        alerts:
          telegram: {bot_token: "${OPS_BOT}", chat_id: "42", api_url: "http://127.0.0.1:9"}
          webhooks: [{url: "http://127.0.0.1:9/hook-secret-path", headers: {X-Key: "${OPS_HDR}"}}]
    """
    env = {"OPS_T": "tok-aaaa-1111", "OPS_BOT": "123:bot-bbbb", "OPS_HDR": "hdr-cccc-2222"}
    plan = load_config(write_config(tmp_path, extra=extra), env=env)
    assert plan.config.alerts is not None and plan.config.alerts.telegram is not None
    line = "tok-aaaa-1111 123:bot-bbbb hdr-cccc-2222 http://127.0.0.1:9/hook-secret-path"
    assert scrub(line) == "*** *** *** ***"
