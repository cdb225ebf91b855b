"""engine.app.config: YAML -> ${VAR} -> msgspec Structs; every mistake is one line naming the file
and the field path, exit code 2 from run.py, never a traceback."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

import engine.log as engine_log
from engine.app.config import load_config, substitute_env
from engine.app.plugins import STRATEGY_GROUP, VENUE_GROUP, available
from engine.app.session import run_plan
from engine.errors import ConfigError, UserError

ROOT = Path(__file__).resolve().parents[2]
RUN_PY = ROOT / "run.py"
SUBPROCESS_TIMEOUT = 60

BASE = """\
mode: paper
journal: null
venues:
  sim:
    type: synthetic
    seed: 3
    instruments:
      - {symbol: "NSE:RELIANCE", price: 1290.50, tick: 0.05}
paper:
  balances: {INR: 1000000}
strategies:
  - name: sma
    plugin: sma_cross
    instruments: ["sim:NSE:RELIANCE"]
    params: {fast: 3, slow: 8, qty: 10}
"""

# What is installed (entry points) grows as venues are added: the messages list it.
KNOWN_VENUES = ", ".join(sorted(available(VENUE_GROUP)))
KNOWN_STRATEGIES = ", ".join(sorted(available(STRATEGY_GROUP)))
RUN_FIELDS = (
    "mode, name, duration_s, speed, start, venues, paper, strategies, risk, journal, route, "
    "cancel_on_stop, progress_s, state_dir, http, alerts, bus, report, record"
)
STRATEGY_FIELDS = "name, plugin, instruments, params, bars, max_errors, error_window_s, queue_size"


def edit(old: str, new: str) -> Callable[[str], str]:
    def apply(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return apply


def append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


def whole(text: str) -> Callable[[str], str]:
    return lambda _: text


# name -> (how the base config is broken, the exact line expected after "{file}: ")
MISTAKES: dict[str, tuple[Callable[[str], str], str]] = {
    "yaml_syntax": (
        edit("mode: paper", "mode: [paper"),
        "line 2 column 8: YAML syntax error: expected ',' or ']', but got ':'",
    ),
    "yaml_tab": (
        edit("journal: null", "journal: null\n\tx: 1"),
        "line 3 column 1: YAML syntax error: found character '\\t' that cannot start any token",
    ),
    "duplicate_yaml_key": (append("mode: live\n"), "line 16 column 1: YAML error: duplicate key 'mode'"),
    "top_level_list": (whole("- mode\n- paper\n"), "expected a mapping at the top, got list"),
    "unknown_top_level_key": (append("bogus: 1\n"), f"bogus: unknown field (known: {RUN_FIELDS})"),
    "unknown_key_in_strategy": (
        edit("    plugin: sma_cross", "    plugin: sma_cross\n    colour: red"),
        f"strategies[0].colour: unknown field (known: {STRATEGY_FIELDS})",
    ),
    "missing_required_field": (
        edit("    plugin: sma_cross\n", ""),
        "strategies[0].plugin: required field is missing",
    ),
    "params_wrong_type": (
        edit("fast: 3", 'fast: "ten"'),
        "strategies[0].params.fast: expected int, got str",
    ),
    "params_fraction_for_int": (
        edit("fast: 3", "fast: 3.5"),
        "strategies[0].params.fast: expected int, got float",
    ),
    "instrument_the_venue_does_not_have": (
        edit('["sim:NSE:RELIANCE"]', '["sim:NSE:RELIANC"]'),
        "strategies[0].instruments[0]: venue 'sim' has no instrument 'NSE:RELIANC' "
        "(did you mean sim:NSE:RELIANCE? it has: NSE:RELIANCE)",
    ),
    "params_unknown_field": (
        edit("qty: 10", "qty: 10, slowest: 30"),
        "strategies[0].params.slowest: unknown parameter (did you mean 'slow'? known: fast, slow, qty)",
    ),
    "params_bad_decimal": (
        edit("qty: 10", "qty: ten"),
        "strategies[0].params.qty: expected a decimal number, got 'ten'",
    ),
    "params_inconsistent": (
        edit("fast: 3, slow: 8", "fast: 8, slow: 3"),
        "strategies[0].params: need 0 < fast < slow, got fast=8 slow=3",
    ),
    "unknown_strategy_plugin": (
        edit("plugin: sma_cross", "plugin: sma_crossx"),
        f"strategies[0].plugin: unknown strategy 'sma_crossx' (known: {KNOWN_STRATEGIES})",
    ),
    "strategy_file_not_found": (
        edit("plugin: sma_cross", "plugin: ./nope/my_strategy.py:MyStrategy"),
        "strategies[0].plugin: strategy file './nope/my_strategy.py' not found",
    ),
    "strategy_module_not_importable": (
        edit("plugin: sma_cross", "plugin: no_such_module_tb:Thing"),
        "strategies[0].plugin: strategy 'no_such_module_tb:Thing': cannot import 'no_such_module_tb' "
        "(No module named 'no_such_module_tb')",
    ),
    "unknown_venue_type": (
        edit("type: synthetic", "type: nosuchvenue"),
        f"venues.sim.type: unknown venue 'nosuchvenue' (known: {KNOWN_VENUES})",
    ),
    "unknown_field_in_venue_instrument": (
        edit("tick: 0.05}", "tick: 0.05, tik: 1}"),
        "venues.sim.instruments[0].tik: unknown field (known: symbol, price, tick, lot, exchange, base, "
        "quote, spread_ticks, size, move_prob, trade_prob, reversion)",
    ),
    "unset_env_var": (
        edit("seed: 3", "seed: ${TB_TEST_UNSET_SEED}"),
        "venues.sim.seed: environment variable TB_TEST_UNSET_SEED is not set",
    ),
    "unset_env_var_in_list": (
        edit('instruments: ["sim:NSE:RELIANCE"]', 'instruments: ["${TB_TEST_UNSET_INST}"]'),
        "strategies[0].instruments[0]: environment variable TB_TEST_UNSET_INST is not set",
    ),
    "bad_mode": (
        edit("mode: paper", "mode: papr"),
        "mode: expected one of 'paper', 'live', 'backtest', got 'papr'",
    ),
    "bad_bar_source": (
        edit("    params:", "    bars: {seconds: 5, source: candles}\n    params:"),
        "strategies[0].bars.source: expected one of 'trades', 'quotes', got 'candles'",
    ),
    "zero_bar_seconds": (
        edit("    params:", "    bars: {seconds: 0}\n    params:"),
        "strategies[0].bars.seconds: expected int >= 1, got 0",
    ),
    "zero_speed": (append("speed: 0\n"), "speed: expected float > 0.0, got 0"),
    "bad_start": (
        append("start: tomorrow\n"),
        "start: expected a date-time like 2026-11-20T09:15:00+05:30, got 'tomorrow'",
    ),
    "instrument_without_venue_prefix": (
        edit('["sim:NSE:RELIANCE"]', '["RELIANCE"]'),
        "strategies[0].instruments[0]: expected 'venue:symbol', got 'RELIANCE'",
    ),
    "instrument_on_unconfigured_venue": (
        edit('["sim:NSE:RELIANCE"]', '["zerodha:NSE:RELIANCE"]'),
        "strategies[0].instruments[0]: no venue 'zerodha' in venues (configured: sim)",
    ),
    "instruments_not_a_list": (
        edit('["sim:NSE:RELIANCE"]', '"sim:NSE:RELIANCE"'),
        "strategies[0].instruments: expected list, got str",
    ),
    "duplicate_strategy_name": (
        append('  - name: sma\n    plugin: grid\n    instruments: ["sim:NSE:RELIANCE"]\n'),
        "strategies[1].name: duplicate strategy name 'sma'",
    ),
    "paper_balance_wrong_type": (
        edit("{INR: 1000000}", "{INR: lots}"),
        "paper.balances.INR: expected a decimal number, got 'lots'",
    ),
    "paper_balances_not_a_mapping": (
        edit("{INR: 1000000}", "[1000000]"),
        "paper.balances: expected mapping, got list",
    ),
    "risk_wrong_type": (
        append("risk: {max_open_orders: many}\n"),
        "risk.max_open_orders: expected int, got str",
    ),
    "journal_unknown_placeholder": (
        edit("journal: null", 'journal: "var/{date}.sqlite"'),
        "journal: unknown placeholder {date}: only {name} may be used",
    ),
    "live_without_an_execution_venue": (
        edit("mode: paper", "mode: live"),
        "venues: live mode needs a venue that takes orders",
    ),
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TB_TEST_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RUN_PY), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, env=clean_env(),
    )


def test_the_plugin_lists_in_messages_include_the_builtins() -> None:
    assert {"paper", "synthetic"} <= set(KNOWN_VENUES.split(", "))
    assert {"grid", "mean_reversion", "sma_cross"} <= set(KNOWN_STRATEGIES.split(", "))


def test_the_base_config_of_these_tests_is_valid(tmp_path: Path) -> None:
    plan = load_config(write(tmp_path, "base", BASE))
    assert plan.strategies[0].params.fast == 3
    assert plan.strategies[0].params.qty == Decimal(10)
    assert plan.paper is not None and plan.paper.config.balances == {"INR": Decimal(1000000)}
    assert plan.venues["sim"].config.seed == 3


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_each_config_mistake_is_one_exact_line_naming_file_and_field(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("TB_TEST_UNSET_SEED", "TB_TEST_UNSET_INST"):
        monkeypatch.delenv(var, raising=False)
    breaker, expected = MISTAKES[name]
    path = write(tmp_path, name, breaker(BASE))
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {expected}"
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_config_error_carries_file_and_path_separately(tmp_path: Path) -> None:
    path = write(tmp_path, "x", MISTAKES["params_wrong_type"][0](BASE))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(path)
    assert info.value.path == "strategies[0].params.fast"
    assert info.value.message == "expected int, got str"


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: no such config file"


def test_non_utf8_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"mode: p\xffaper\n")
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: not UTF-8 text (byte 7)"


def test_a_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        load_config(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read (Is a directory)"


async def test_instrument_only_the_venue_can_deny_is_a_config_error_at_start(tmp_path: Path) -> None:
    """GOPAX lists its pairs over the network (here its emulator's): `check` cannot know, the start does."""
    text = (ROOT / "configs" / "gopax_emulated.yaml").read_text(encoding="utf-8")
    path = write(tmp_path, "unknown_pair", text.replace('pairs: ["BTC-KRW"]', 'pairs: []')
                 .replace('["gopax:BTC-KRW"]', '["gopax:DOGE-KRW"]'))
    plan = load_config(path)  # the venue is asked only when the run starts
    with pytest.raises(ConfigError) as info:
        await asyncio.wait_for(run_plan(plan, duration_s=1, handle_signals=False), 60)
    assert str(info.value).startswith(f"{path}: strategies[0].instruments[0]: unknown instrument 'gopax:DOGE-KRW'")


# --- the same mistakes through run.py: exit 2, one line on stderr, no traceback --------------

CLI_CASES = [
    "yaml_syntax", "unknown_top_level_key", "unknown_key_in_strategy", "params_wrong_type",
    "unknown_strategy_plugin", "unknown_venue_type", "unset_env_var", "bad_mode",
    "instrument_without_venue_prefix", "instrument_on_unconfigured_venue", "duplicate_strategy_name",
    "strategy_file_not_found", "paper_balance_wrong_type", "params_inconsistent",
]


@pytest.mark.parametrize("command", ["run", "check"])
def test_run_py_prints_each_mistake_as_one_line_and_exits_2(command: str, tmp_path: Path) -> None:
    for name in CLI_CASES:
        breaker, expected = MISTAKES[name]
        path = write(tmp_path, name, breaker(BASE))
        args = [str(path)] if command == "run" else ["check", str(path)]
        proc = run_cli(*args)
        assert proc.returncode == 2, (name, proc.stderr)
        assert proc.stderr.splitlines() == [f"{path}: {expected}"], name
        assert "Traceback" not in proc.stdout + proc.stderr
        assert proc.stdout == ""


def test_run_py_missing_config_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    for args in ([str(path)], ["check", str(path)], ["run", str(path), "--duration", "1"]):
        proc = run_cli(*args)
        assert proc.returncode == 2
        assert proc.stderr.splitlines() == [f"{path}: no such config file"]
        assert "Traceback" not in proc.stdout + proc.stderr


def test_run_py_instrument_the_venue_config_does_not_have_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "unknown_inst", BASE.replace('["sim:NSE:RELIANCE"]', '["sim:NSE:TCS"]'))
    proc = run_cli(str(path), "--duration", "5")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        f"{path}: strategies[0].instruments[0]: venue 'sim' has no instrument 'NSE:TCS' (it has: NSE:RELIANCE)"
    ]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--speed", "-1"], "--speed: must be positive, got -1"),
        (["--speed", "0"], "--speed: must be positive, got 0"),
        (["--duration", "-5"], "--duration: must be zero or more seconds, got -5"),
        (["--log-level", "loud"], "unknown log level 'loud'"),
    ],
)
def test_run_py_bad_command_line_values_exit_2_with_one_line(args: list[str], line: str, tmp_path: Path) -> None:
    path = write(tmp_path, "ok", BASE)
    proc = run_cli(str(path), *args)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [line]


# --- ${VAR} ----------------------------------------------------------------------------------


def test_env_vars_and_defaults_are_substituted_before_decoding(tmp_path: Path) -> None:
    text = (
        BASE.replace("seed: 3", "seed: ${TB_TEST_SEED}")
        .replace("fast: 3", 'fast: "${TB_TEST_FAST:-4}"')  # quoted: `{` inside a flow mapping
        .replace("slow: 8", 'slow: "${TB_TEST_EMPTY:-9}"')
        .replace("mode: paper", "mode: ${TB_TEST_MODE:-paper}\nname: ${TB_TEST_A}-${TB_TEST_B}")
    )
    env = {"TB_TEST_SEED": "42", "TB_TEST_EMPTY": "", "TB_TEST_A": "left", "TB_TEST_B": "right"}
    plan = load_config(write(tmp_path, "vars", text), env=env)
    assert plan.venues["sim"].config.seed == 42  # a string from the environment, decoded as int
    assert plan.strategies[0].params.fast == 4  # unset: the default
    assert plan.strategies[0].params.slow == 9  # set but empty: the default
    assert plan.config.mode == "paper"
    assert plan.name == "left-right"


def test_env_var_without_default_uses_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TB_TEST_SEED2", "17")
    plan = load_config(write(tmp_path, "vars", BASE.replace("seed: 3", "seed: ${TB_TEST_SEED2}")))
    assert plan.venues["sim"].config.seed == 17


def test_substituted_values_of_secret_looking_fields_are_registered_for_redaction() -> None:
    raw = {
        "venues": {
            "x": {
                "api_secret": "${TB_TEST_SECRET}",
                "credentials": {"user": "${TB_TEST_USER}"},
                "url": "https://example.invalid/${TB_TEST_PATH}",
            }
        }
    }
    env = {"TB_TEST_SECRET": "s3cr3t-value-001", "TB_TEST_USER": "user-name-001", "TB_TEST_PATH": "public-path-001"}
    out = substitute_env(raw, "f.yaml", env=env)
    assert out["venues"]["x"]["api_secret"] == "s3cr3t-value-001"
    assert "s3cr3t-value-001" in engine_log._secret_values
    assert "user-name-001" in engine_log._secret_values  # anything under credentials
    assert "public-path-001" not in engine_log._secret_values
    line = engine_log.redact(None, "info", {"event": "login with s3cr3t-value-001 as user-name-001"})
    assert line["event"] == "login with *** as ***"


def test_check_masks_secret_fields_of_a_plugin_venue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tb_cfg_secret_venue.py").write_text(
        "from adapters.paper.synthetic import SyntheticVenue, SyntheticConfig\n"
        "class Config(SyntheticConfig, kw_only=True, forbid_unknown_fields=True):\n"
        "    api_key: str = ''\n"
        "    api_secret: str = ''\n"
        "class SecretVenue(SyntheticVenue):\n"
        "    Config = Config\n"
    )
    text = BASE.replace("type: synthetic", "type: tb_cfg_secret_venue:SecretVenue\n    api_key: ${TB_TEST_KEY}\n    api_secret: ${TB_TEST_SEC}")
    path = write(tmp_path, "secret", text)
    env = {**clean_env(), "PYTHONPATH": str(tmp_path), "TB_TEST_KEY": "key-abcdef-123", "TB_TEST_SEC": "sec-uvwxyz-789"}
    proc = subprocess.run(
        [sys.executable, str(RUN_PY), "check", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "key-abcdef-123" not in proc.stdout + proc.stderr
    assert "sec-uvwxyz-789" not in proc.stdout + proc.stderr
    assert '"api_secret": "***"' in proc.stdout
    assert '"api_key": "***"' in proc.stdout


def test_yaml_numbers_with_a_fraction_stay_exact_decimals(tmp_path: Path) -> None:
    plan = load_config(write(tmp_path, "dec", BASE.replace("{INR: 1000000}", "{INR: 0.1, USD: 1_000.10}")))
    assert plan.paper is not None
    assert plan.paper.config.balances == {"INR": Decimal("0.1"), "USD": Decimal("1000.10")}


def test_yaml_merge_keys_still_work_with_duplicate_key_detection(tmp_path: Path) -> None:
    text = BASE.replace("paper:\n  balances: {INR: 1000000}", "paper: &p\n  balances: {INR: 5}") + "risk:\n  <<: {max_open_orders: 3}\n  max_position: 7\n"
    plan = load_config(write(tmp_path, "merge", text))
    assert plan.config.risk.max_open_orders == 3
    assert plan.config.risk.max_position == Decimal(7)


def test_shipped_configs_load() -> None:
    """Every shipped config loads; ones that take credentials from ${VAR} get placeholders."""
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", path.read_text()))
        plan = load_config(path, env={**os.environ, **{name: "placeholder" for name in required}})
        assert plan.strategies, path
        assert (plan.paper is not None) == (plan.config.mode in ("paper", "backtest")), path


def test_route_must_name_configured_venues_and_one_that_takes_orders(tmp_path: Path) -> None:
    body = (
        "mode: live\nvenues:\n  sim: {type: synthetic, instruments: [{symbol: 'NSE:SBIN', price: 800, tick: 0.05}]}\n"
        "route: {sim: nowhere}\n"
    )
    path = tmp_path / "route.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: route.sim: no venue 'nowhere' in venues (configured: sim)"
    path.write_text(body.replace("nowhere", "sim"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: route.sim: venue 'sim' does not take orders"


def test_the_journal_defaults_to_a_file_per_run_and_to_memory_in_backtests(tmp_path: Path) -> None:
    venue = "venues:\n  sim: {type: synthetic, instruments: [{symbol: 'BTC-KRW', price: 100, tick: 1}]}\n"
    for mode, expected in (("paper", "var/journal/j.sqlite"), ("backtest", None)):
        path = tmp_path / "j.yaml"
        path.write_text(f"mode: {mode}\n{venue}")
        assert load_config(path).journal_path == expected
    path.write_text(f"mode: backtest\njournal: 'runs/{{name}}.db'\n{venue}")
    assert load_config(path).journal_path == "runs/j.db"
    path.write_text(f"mode: paper\njournal: null\n{venue}")
    assert load_config(path).journal_path is None


def test_route_sends_orders_for_one_venues_instruments_to_another(tmp_path: Path) -> None:
    from engine.app.runner import Engine

    path = tmp_path / "routed.yaml"
    path.write_text(
        "mode: live\njournal: null\nvenues:\n"
        "  sim: {type: synthetic, instruments: [{symbol: 'NSE:SBIN', price: 800, tick: 0.05}]}\n"
        "  broker: {type: paper}\n"
        "route: {sim: broker}\n"
    )
    engine = Engine(load_config(path))
    assert engine.venue_for("sim:NSE:SBIN") == "broker"
    assert engine.venue_for("broker:NSE:SBIN") == "broker"
    engine.journal.close()


def _synthetic_paper(tmp_path: Path, plugin: str, journal: str = "null") -> Path:
    path = tmp_path / "mistake.yaml"
    path.write_text(
        f"mode: paper\njournal: {journal}\nduration_s: 1\n"
        "venues:\n  sim: {type: synthetic, instruments: [{symbol: 'BTC-KRW', price: 100, tick: 1}]}\n"
        f"strategies:\n  - {{name: a, plugin: '{plugin}', instruments: ['sim:BTC-KRW']}}\n"
    )
    return path


def test_a_plugin_that_is_not_a_strategy_is_one_line(tmp_path: Path) -> None:
    path = _synthetic_paper(tmp_path, "engine.events:Quote")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: strategies[0].plugin: 'engine.events:Quote' is not a Strategy class"


async def test_a_journal_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = _synthetic_paper(tmp_path, "sma_cross", journal=f"'{blocker}/journal.sqlite'")
    with pytest.raises(ConfigError) as err:
        await run_plan(load_config(path), handle_signals=False)
    assert str(err.value).startswith(f"{path}: journal: cannot open {blocker}/journal.sqlite: ")
    assert "\n" not in str(err.value)


async def test_a_strategy_whose_constructor_raises_is_one_line(tmp_path: Path) -> None:
    plugin = tmp_path / "broken.py"
    plugin.write_text(
        "from strategies import Strategy\n\n\nclass Broken(Strategy):\n"
        "    def __init__(self, ctx, params):\n        raise ValueError('no model file')\n"
    )
    path = _synthetic_paper(tmp_path, f"{plugin}:Broken")
    with pytest.raises(ConfigError) as err:
        await run_plan(load_config(path), handle_signals=False)
    assert str(err.value) == f"{path}: strategies[0]: Broken failed to start: ValueError('no model file')"


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        (".nan", "strategies[0].params.qty", "expected a finite number, got nan"),
        ("-.inf", "strategies[0].params.qty", "expected a finite number, got -inf"),
        ("1e20", "strategies[0].params.qty", "number out of range"),
        ("'${TB_NAN:-NaN}'", "strategies[0].params.qty", "expected a finite number, got NaN"),
    ],
)
def test_a_non_finite_or_out_of_range_decimal_is_refused_naming_the_field(
    value: str, field: str, words: str, tmp_path: Path
) -> None:
    path = write(tmp_path, "odd", BASE.replace("qty: 10", f"qty: {value}"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == field
    assert words in str(caught.value)


def test_a_nan_in_a_venue_block_is_refused_before_the_venue_is_built(tmp_path: Path) -> None:
    path = write(tmp_path, "odd", BASE.replace("balances: {INR: 1000000}", "balances: {INR: .nan}"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == "paper.balances.INR"


def test_run_py_check_answers_a_nan_quantity_in_one_line_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "odd", BASE.replace("qty: 10", "qty: .nan"))
    proc = run_cli("check", str(path))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "strategies[0].params.qty" in proc.stderr
    assert "Traceback" not in proc.stderr


LOOSE_STRATEGY = """\
import msgspec
from engine.strategy.base import Strategy


class Params(msgspec.Struct):  # no forbid_unknown_fields: the engine refuses unknown keys itself
    lookback: int = 20


class Loose(Strategy):
    Params = Params


class Tolerant(Strategy):
    Params = Params
    allow_unknown_params = True
"""


def test_a_misspelt_parameter_is_refused_even_when_params_would_ignore_it(tmp_path: Path) -> None:
    (tmp_path / "loose.py").write_text(LOOSE_STRATEGY, encoding="utf-8")
    path = write(tmp_path, "loose", edit("plugin: sma_cross", "plugin: ./loose.py:Loose")(
        edit("{fast: 3, slow: 8, qty: 10}", "{lookbak: 5}")(BASE)))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: strategies[0].params.lookbak: unknown parameter (did you mean 'lookback'? known: lookback)"
    )


def test_a_strategy_may_allow_unknown_parameters(tmp_path: Path) -> None:
    (tmp_path / "loose.py").write_text(LOOSE_STRATEGY, encoding="utf-8")
    path = write(tmp_path, "tolerant", edit("plugin: sma_cross", "plugin: ./loose.py:Tolerant")(
        edit("{fast: 3, slow: 8, qty: 10}", "{lookback: 5, note: x}")(BASE)))
    plan = load_config(path)
    assert plan.strategies[0].params.lookback == 5  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_an_empty_config_file_is_refused_in_one_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "empty", text)
    proc = subprocess.run([sys.executable, str(RUN_PY), "check", str(path)], capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr == f"{path}: the config file is empty (see configs/reference.yaml for what a run needs)\n"
    assert proc.stdout == ""


def test_a_bus_nats_mistake_is_one_line_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "split.yaml"
    path.write_text((ROOT / "configs" / "paper_sma.yaml").read_text() + "bus:\n  nats: {url: 'http://127.0.0.1:4222'}\n")
    with pytest.raises(UserError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: bus.nats.url: expected nats://, tls://, ws:// or wss:// URL, got 'http://127.0.0.1:4222'"
    )


def test_bus_nats_credentials_come_from_variables_and_are_redacted(tmp_path: Path) -> None:
    path = tmp_path / "split.yaml"
    path.write_text((ROOT / "configs" / "paper_sma.yaml").read_text()
                    + "bus:\n  nats: {url: 'nats://127.0.0.1:4222', stream: s1, user: u, password: '${NATS_PW}'}\n")
    plan = load_config(path, env={"NATS_PW": "hunter2-secret"})
    assert plan.config.bus is not None and plan.config.bus.nats is not None
    assert plan.config.bus.nats.password == "hunter2-secret"
    assert "hunter2-secret" not in engine_log.scrub("connecting with hunter2-secret")
