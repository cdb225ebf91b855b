"""Run configs: YAML -> `${VAR}` from the environment -> msgspec Structs, with one-line errors.

Every mistake names the file and the field path, e.g.
`configs/x.yaml: strategies[0].params.fast: expected int, got str`.
"""

from __future__ import annotations

import difflib
import enum
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from engine.account.risk import RiskLimits
from engine.app.plugins import load_strategy, load_venue
from engine.bridge.config import BusConfig, check_nats, register_nats_secrets
from engine.errors import ConfigError, UserError
from engine.log import register_secret
from engine.ops.config import AlertsConfig, HttpConfig, parse_listen, register_ops_secrets
from engine.record.config import RecordConfig
from engine.strategy.base import Strategy
from engine.venue.contract import Venue, VenueConfig

Mode = Literal["paper", "live", "backtest"]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "jkey", "pin", "totp", "signature")


Positive = msgspec.Meta(gt=0)


DEFAULT_JOURNAL = "var/journal/{name}.sqlite"


class BarsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    seconds: Annotated[int, Positive] = 60
    source: Literal["trades", "quotes"] = "trades"


class StrategyConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    plugin: str
    instruments: list[str]
    params: dict[str, Any] = {}
    bars: BarsConfig | None = None
    max_errors: Annotated[int, Positive] = 5
    error_window_s: Annotated[float, Positive] = 60.0
    queue_size: Annotated[int, Positive] | None = None


class ReportConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`report:` the HTML report and trade list every run ends with (engine/report)."""

    interval_s: Annotated[float, Positive] = 10.0  # engine seconds between samples of the equity series
    capital: Decimal | None = None  # the base of return and drawdown %; default: paper balance
    path: str | None = None  # the HTML file ({name}); default beside the journal, else <state_dir>/reports/


class RunConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    mode: Mode = "paper"
    name: str | None = None
    duration_s: Annotated[float, msgspec.Meta(ge=0)] | None = None
    speed: Annotated[float, Positive] = 1.0
    start: datetime | None = None
    venues: dict[str, dict[str, Any]] = {}
    paper: dict[str, Any] = {}
    strategies: list[StrategyConfig] = []
    risk: RiskLimits = msgspec.field(default_factory=RiskLimits)
    # Unset: a file per run name in paper and live runs, memory in backtests (nothing to recover).
    journal: str | None | msgspec.UnsetType = msgspec.UNSET
    route: dict[str, str] = {}
    cancel_on_stop: bool = True
    progress_s: float = 10.0
    state_dir: str = "var"
    http: HttpConfig | None = None  # the status page, controls and /metrics; off unless given
    alerts: AlertsConfig | None = None
    bus: BusConfig | None = None  # `bus: {nats: ...}`: the split into core and strategy hosts
    report: bool | ReportConfig = True  # false: no report at the end of the run
    record: RecordConfig | None = None  # `record: {dir: ...}`: the venues' market data to Parquet


@dataclass
class VenuePlan:
    name: str
    cls: type[Venue]
    config: VenueConfig


@dataclass
class StrategyPlan:
    config: StrategyConfig
    cls: type[Any]
    params: Any


@dataclass
class Plan:
    """A config with every plugin found and every block decoded: ready to run."""

    file: str
    config: RunConfig
    venues: dict[str, VenuePlan]
    paper: VenuePlan | None
    strategies: list[StrategyPlan] = field(default_factory=list)

    @property
    def journal_path(self) -> str | None:
        """Where this run journals orders, or None for memory."""
        journal = self.config.journal
        if journal is msgspec.UNSET:
            journal = None if self.config.mode == "backtest" else DEFAULT_JOURNAL
        return None if not journal else journal.format(name=self.name)

    @property
    def report(self) -> ReportConfig | None:
        """The report's options, or None when `report: false`."""
        report = self.config.report
        if report is False:
            return None
        return ReportConfig() if report is True else report

    @property
    def report_path(self) -> Path | None:
        """Where the run's HTML report goes: `report.path`, else beside the journal, else state_dir."""
        report = self.report
        if report is None:
            return None
        if report.path:
            return Path(report.path.format(name=self.name))
        journal = self.journal_path
        if journal:
            return Path(journal).with_suffix(".report.html")
        return Path(self.config.state_dir) / "reports" / f"{self.name}.report.html"

    @property
    def name(self) -> str:
        return self.config.name or Path(self.file).stem

    @property
    def start_ns(self) -> int | None:
        start = self.config.start
        if start is None:
            return None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        return int(start.timestamp()) * 1_000_000_000 + start.microsecond * 1000


# --- YAML --------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML where numbers with a fraction become Decimal: money stays exact from the file."""


def _decimal_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        return loader.construct_yaml_float(node)


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """A mapping that refuses a key given twice (YAML would silently keep the last one)."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal_float)
_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)


def read_yaml(path: Path) -> Any:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{file}: no such config file") from None
    except OSError as exc:
        raise UserError(f"{file}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{file}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        kind = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise UserError(f"{file}: {where}{kind}: {problem}") from None
    if data is None:
        raise UserError(f"{file}: the config file is empty (see configs/reference.yaml for what a run needs)")
    if not isinstance(data, dict):
        raise ConfigError(file, "", f"expected a mapping at the top, got {type(data).__name__}")
    return data


# --- ${VAR} ------------------------------------------------------------------------------------


def substitute_env(value: Any, file: str, path: str = "", env: Mapping[str, str] | None = None) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string; secrets are registered for redaction."""
    source: Mapping[str, str] = os.environ if env is None else env
    if isinstance(value, dict):
        return {k: substitute_env(v, file, _join(path, str(k)), source) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, file, f"{path}[{i}]", source) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = source.get(name)
        if found is None or (found == "" and default is not None):
            if default is None:
                raise ConfigError(file, path, f"environment variable {name} is not set")
            found = default
        if _looks_secret(path):
            register_secret(found)
        return found

    return _VAR.sub(replace, value)


def _looks_secret(path: str) -> bool:
    leaf = path.rsplit(".", 1)[-1].lower()
    return any(word in leaf for word in _SECRET_WORDS) or ".credentials." in path


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- decoding with one-line errors -------------------------------------------------------------

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$")
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_ANY_KEY = object()  # msgspec's `[...]`: some key of a mapping
_TYPE_WORDS = {"object": "mapping", "array": "list", "decimal": "float"}


def convert(value: Any, type_: Any, file: str, prefix: str = "") -> Any:
    """msgspec.convert with the error rewritten as `file: path: message`."""
    _refuse_odd_numbers(value, type_, file, prefix)
    try:
        return msgspec.convert(value, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(file, *_locate(str(exc), prefix, value, type_)) from None


MAX_DECIMAL = Decimal(10) ** 15  # above any price, quantity or amount a run means


def _refuse_odd_numbers(value: Any, type_: Any, file: str, path: str) -> None:
    """NaN, infinity, and decimals out of range are refused before any Struct is built (their
    checks would raise on them), naming the field."""
    type_ = _unwrap(type_)
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_odd_numbers(item, _child_type(type_, key), file, _join(path, str(key)))
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_odd_numbers(item, _child_type(type_, i), file, f"{path}[{i}]")
        return
    number: Decimal | float | None = None
    if isinstance(value, (float, Decimal)):
        number = value
    elif isinstance(value, str) and type_ in (Decimal, float):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return  # not a number at all: msgspec says so with the field's type
    if number is None:
        return
    if not math.isfinite(number):
        raise ConfigError(file, path, f"expected a finite number, got {value}")
    if isinstance(number, Decimal) and abs(number) >= MAX_DECIMAL:
        raise ConfigError(file, path, f"number out of range (at most {MAX_DECIMAL:.0e}), got {value}")


def _locate(text: str, prefix: str, value: Any = None, type_: Any = None) -> tuple[str, str]:
    """The field path and a readable message for one msgspec validation error."""
    match = _AT.match(text)
    assert match is not None
    message = match.group("msg").replace("`", "")
    segments: list[Any] = []
    for name, index in _SEGMENT.findall(match.group("path") or ""):
        segments.append(name if name else (_ANY_KEY if index == "..." else int(index)))
    segments, found, field_type = _walk(segments, value, type_)
    path = prefix
    for seg in segments:
        path = f"{path}[{seg}]" if isinstance(seg, int) else _join(path, "[...]" if seg is _ANY_KEY else str(seg))
    unknown = re.match(r"Object contains unknown field (\S+)", message)
    missing = re.match(r"Object missing required field (\S+)", message)
    if unknown:
        known = _field_names(field_type)
        hint = f" (known: {', '.join(known)})" if known else ""
        return _join(path, unknown.group(1)), "unknown field" + hint
    if missing:
        return _join(path, missing.group(1)), "required field is missing"
    return path, _reword(message, found, field_type)


def _reword(message: str, found: Any, field_type: Any) -> str:
    got = f", got {found!r}" if found is not _MISSING and isinstance(found, (str, int, float, Decimal)) else ""
    if isinstance(found, Decimal):
        got = f", got {found}"
    if message.startswith("Invalid enum value"):
        choices = _choices(field_type)
        if choices:
            return "expected one of " + ", ".join(repr(c) for c in choices) + got
        return "invalid value" + message[len("Invalid enum value"):]
    if message.startswith("Invalid decimal string"):
        return "expected a decimal number" + got
    if message.startswith("Invalid RFC3339 encoded datetime"):
        return "expected a date-time like 2026-11-20T09:15:00+05:30" + got
    typed = re.match(r"Expected (.+?), got (\S+)$", message)
    if typed:
        wanted = " | ".join(_TYPE_WORDS.get(w, w) for w in typed.group(1).split(" | ") if w != "null")
        return f"expected {wanted or 'null'}, got {_TYPE_WORDS.get(typed.group(2), typed.group(2))}"
    bound = re.match(r"Expected (\S+) ([<>]=? \S+)$", message)
    if bound:
        return f"expected {_TYPE_WORDS.get(bound.group(1), bound.group(1))} {bound.group(2)}{got}"
    return message[:1].lower() + message[1:]


_MISSING = object()


def _walk(segments: list[Any], value: Any, type_: Any) -> tuple[list[Any], Any, Any]:
    """Follow msgspec's error path through the raw data and the type: names the key hidden
    behind `[...]`, and returns the offending value and the type expected there."""
    resolved: list[Any] = []
    for seg in segments:
        type_ = _unwrap(type_)
        if seg is _ANY_KEY:
            child = _child_type(type_, seg)
            seg = _bad_key(value, child)
        resolved.append(seg)
        type_ = _child_type(type_, seg)
        if isinstance(value, dict) and not isinstance(seg, int) and seg in value:
            value = value[seg]
        elif isinstance(value, list) and isinstance(seg, int) and seg < len(value):
            value = value[seg]
        else:
            value = _MISSING
    return resolved, value, _unwrap(type_)


def _bad_key(mapping: Any, value_type: Any) -> Any:
    """The first key of `mapping` whose value does not convert to `value_type`."""
    if isinstance(mapping, dict) and value_type is not None:
        for key, item in mapping.items():
            try:
                msgspec.convert(item, value_type, strict=False)
            except (msgspec.ValidationError, TypeError):
                return key
    return _ANY_KEY


def _unwrap(type_: Any) -> Any:
    """`X` for `Annotated[X, ...]` and `X | None`."""
    while True:
        origin = typing.get_origin(type_)
        if origin is typing.Annotated:
            type_ = typing.get_args(type_)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(type_) if a is not type(None)]
            if len(args) != 1:
                return type_
            type_ = args[0]
        else:
            return type_


def _child_type(type_: Any, seg: Any) -> Any:
    if type_ is None:
        return None
    origin = typing.get_origin(type_)
    if isinstance(type_, type) and issubclass(type_, msgspec.Struct) and isinstance(seg, str):
        try:
            return typing.get_type_hints(type_, include_extras=True).get(seg)
        except (NameError, TypeError):  # a plugin's Params with a forward reference it cannot resolve
            return None
    if origin is dict and not isinstance(seg, int):
        return typing.get_args(type_)[1]
    if origin is list and isinstance(seg, int):
        return typing.get_args(type_)[0]
    return None


def _field_names(type_: Any) -> list[str]:
    if isinstance(type_, type) and issubclass(type_, msgspec.Struct):
        return list(type_.__struct_fields__)
    return []


def _choices(type_: Any) -> list[Any]:
    if typing.get_origin(type_) is Literal:
        return list(typing.get_args(type_))
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        return [m.value for m in type_]
    return []


def _refuse_unknown_params(file: str, where: str, params: Any, cls: type[msgspec.Struct]) -> None:
    """A misspelt parameter (`lookbak`) is a mistake, not a default silently kept."""
    if not isinstance(params, dict):
        return  # convert() names the shape error
    known = list(getattr(cls, "__struct_encode_fields__", ()))
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            listed = ", ".join(known) or "none"
            raise ConfigError(file, f"{where}.{key}", f"unknown parameter ({hint}known: {listed})")


def _refuse_unknown_symbol(file: str, where: str, venue: VenuePlan, symbol: str) -> None:
    """A strategy instrument the venue's config already tells is not there."""
    known = venue.cls.known_symbols(venue.config)
    if known is None or symbol in known:
        return
    close = difflib.get_close_matches(symbol, list(known), n=1)
    hint = f"did you mean {venue.name}:{close[0]}? " if close else ""
    listed = ", ".join(sorted(known)) or "none"
    raise ConfigError(file, where, f"venue {venue.name!r} has no instrument {symbol!r} ({hint}it has: {listed})")


def load_config(path: str | Path, *, env: dict[str, str] | None = None) -> Plan:
    """Read, substitute, decode and resolve plugins: any mistake is one `ConfigError` line."""
    file = str(path)
    raw = substitute_env(read_yaml(Path(path)), file, env=env)
    config: RunConfig = convert(raw, RunConfig, file)
    base_dir = Path(path).resolve().parent
    venues = {name: _venue_plan(file, name, block) for name, block in config.venues.items()}
    for vp in venues.values():  # an emulator's market clock starts where the run's does
        if vp.config.emulator and vp.config.emulator_start is None and config.start is not None:
            vp.config = msgspec.structs.replace(vp.config, emulator_start=config.start)
        if vp.config.shadow and config.mode != "live":
            raise ConfigError(file, f"venues.{vp.name}.shadow", f"a shadow paper account runs beside a live venue; this run is {config.mode}")
    paper = None
    if config.mode in ("paper", "backtest"):
        paper = _venue_plan(file, "paper", {"type": "paper", **config.paper}, field_path="paper")
    names: set[str] = set()
    strategies = []
    for i, sc in enumerate(config.strategies):
        where = f"strategies[{i}]"
        if sc.name in names:
            raise ConfigError(file, f"{where}.name", f"duplicate strategy name {sc.name!r}")
        names.add(sc.name)
        try:
            cls = load_strategy(sc.plugin, base_dir)
        except UserError as exc:
            raise ConfigError(file, f"{where}.plugin", str(exc)) from None
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise ConfigError(file, f"{where}.plugin", f"{sc.plugin!r} is not a Strategy class")
        if not cls.allow_unknown_params:
            _refuse_unknown_params(file, f"{where}.params", sc.params, cls.Params)
        params = convert(sc.params, cls.Params, file, f"{where}.params")
        for j, inst in enumerate(sc.instruments):
            venue, sep, symbol = inst.partition(":")
            if not sep or not symbol:
                raise ConfigError(file, f"{where}.instruments[{j}]", f"expected 'venue:symbol', got {inst!r}")
            if venue not in venues:
                known = ", ".join(sorted(venues)) or "none"
                raise ConfigError(file, f"{where}.instruments[{j}]", f"no venue {venue!r} in venues (configured: {known})")
            _refuse_unknown_symbol(file, f"{where}.instruments[{j}]", venues[venue], symbol)
        strategies.append(StrategyPlan(config=sc, cls=cls, params=params))
    if isinstance(config.journal, str) and config.journal:
        try:
            config.journal.format(name="x")
        except (KeyError, IndexError) as exc:
            raise ConfigError(file, "journal", f"unknown placeholder {{{exc.args[0]}}}: only {{name}} may be used") from None
        except ValueError as exc:
            raise ConfigError(file, "journal", f"{exc}: only {{name}} may be used, braces doubled otherwise") from None
    if isinstance(config.report, ReportConfig) and config.report.capital is not None and config.report.capital <= 0:
        raise ConfigError(file, "report.capital", f"expected a positive amount, got {config.report.capital}")
    if isinstance(config.report, ReportConfig) and config.report.path:
        try:
            config.report.path.format(name="x")
        except (KeyError, IndexError, ValueError):
            raise ConfigError(file, "report.path", "only {name} may be used, braces doubled otherwise") from None
    for source, target in config.route.items():
        if source not in venues:
            raise ConfigError(file, f"route.{source}", f"no venue {source!r} in venues (configured: {', '.join(sorted(venues))})")
        if target not in venues:
            raise ConfigError(file, f"route.{source}", f"no venue {target!r} in venues (configured: {', '.join(sorted(venues))})")
        if not venues[target].cls.supports_execution:
            raise ConfigError(file, f"route.{source}", f"venue {target!r} does not take orders")
    if config.http is not None:
        try:
            parse_listen(config.http.listen)
        except ValueError as exc:
            raise ConfigError(file, "http.listen", str(exc)) from None
    register_ops_secrets(config.http, config.alerts)
    if config.bus is not None and config.bus.nats is not None:
        mistake = check_nats(config.bus.nats)
        if mistake is not None:
            raise ConfigError(file, f"bus.nats.{mistake[0]}", mistake[1])
        register_nats_secrets(config.bus.nats)
    if config.mode == "live" and not any(v.cls.supports_execution for v in venues.values()):
        raise ConfigError(file, "venues", "live mode needs a venue that takes orders")
    return Plan(file=file, config=config, venues=venues, paper=paper, strategies=strategies)


def _venue_plan(file: str, name: str, block: dict[str, Any], field_path: str | None = None) -> VenuePlan:
    where = field_path or f"venues.{name}"
    if not isinstance(block, dict):
        raise ConfigError(file, where, f"expected a mapping, got {type(block).__name__}")
    ref = block.get("type") or name
    if not isinstance(ref, str):
        raise ConfigError(file, f"{where}.type", f"expected str, got {type(ref).__name__}")
    try:
        cls = load_venue(ref)
    except UserError as exc:
        raise ConfigError(file, f"{where}.type", str(exc)) from None
    if not (isinstance(cls, type) and issubclass(cls, Venue)):
        raise ConfigError(file, f"{where}.type", f"{ref!r} is not a Venue class")
    config = convert(block, cls.Config, file, where)
    return VenuePlan(name=name, cls=cls, config=config)
