"""The contract every venue implements; the engine knows venues only through it."""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import msgspec

from engine.errors import NotSupported
from engine.events import Balance, Bar, Fill, Instrument, Order, OrderReport, Position
from engine.log import register_secret
from engine.venue.rest import RestClient

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.data.bus import Bus


class Channel(enum.StrEnum):
    QUOTES = "quotes"
    TRADES = "trades"
    BOOK = "book"
    BARS = "bars"


class ExecutionSink(Protocol):
    """Where a venue reports what happened to orders (the order manager)."""

    def on_order_report(self, report: OrderReport) -> None: ...

    def on_fill(self, fill: Fill) -> None: ...

    def on_balance(self, balance: Balance) -> None: ...


class VenueConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields every venue block in a config may carry; a venue's own `Config` extends it."""

    # names of this config's fields that hold secrets: redacted from every log line once the
    # venue is built (whether they came from ${VAR}s or from an emulator's demo account)
    secret_fields: ClassVar[tuple[str, ...]] = ()

    type: str | None = None
    emulator: bool = False
    emulator_seed: int = 1
    # where an emulator's market clock starts; left out, the run's `start:` (the two must agree
    # for market hours and token lifetimes to line up)
    emulator_start: datetime | None = None
    # a live venue only: the engine's paper account runs beside it on the same quotes and orders,
    # and the summary compares the two order by order (engine/app/shadow.py)
    shadow: bool = False


@dataclass
class VenueContext:
    """What the engine hands a venue: its name in this run, the bus, the clock, and the sink."""

    name: str
    bus: Bus
    clock: Clock
    sink: ExecutionSink
    state_dir: Path = Path("var")
    mode: str = "paper"
    extra: dict[str, Any] = field(default_factory=dict)
    config_file: str = ""  # the run's config, for a venue's own one-line errors about its block


@dataclass(frozen=True)
class EmulatorInfo:
    """Where a running emulator listens and the demo account it funded."""

    venue: str
    url: str
    ws_url: str | None
    credentials: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "url": self.url,
            "ws_url": self.ws_url,
            "credentials": self.credentials,
        }


class Emulator(Protocol):
    """A venue emulator serving on loopback: `python run.py emulate <venue>` and `emulator: true`."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> EmulatorInfo: ...

    async def stop(self) -> None: ...


ConfigT = TypeVar("ConfigT", bound=VenueConfig)


class Venue(abc.ABC, Generic[ConfigT]):
    """A venue adapter, generic over its config Struct. Market-data-only sources set
    `supports_execution = False`."""

    Config: ClassVar[type[VenueConfig]] = VenueConfig
    supports_execution: ClassVar[bool] = True
    # the venue's state lives in this process (the paper account) and dies with it: its requests
    # need no journal commit before they leave, and no task of their own
    in_process: ClassVar[bool] = False

    def __init__(self, ctx: VenueContext, config: ConfigT) -> None:
        self.ctx = ctx
        self.config: ConfigT = config
        self.name = ctx.name
        for field_name in config.secret_fields:
            value = getattr(config, field_name, None)
            if isinstance(value, str):
                register_secret(value)

    # --- emulator hooks (optional) ------------------------------------------------------------

    @classmethod
    def make_emulator(cls, config: VenueConfig, seed: int) -> Emulator | None:
        """An emulator of this venue, or None when the venue has none."""
        return None

    @classmethod
    def with_emulator(cls, config: VenueConfig, info: EmulatorInfo) -> VenueConfig:
        """The config pointed at a running emulator (its URLs and demo credentials)."""
        raise NotSupported(info.venue, "this venue has no emulator")

    @classmethod
    async def login(cls, config: VenueConfig, *, state_dir: Path, config_file: str, say: Callable[[str], None]) -> Path:
        """An interactive login (a broker's SSO: `python run.py login VENUE CONFIG`) whose session
        later runs use; returns where the session was stored. Venues that need none refuse."""
        raise NotSupported(cls.__name__, "this venue has no interactive login")

    @classmethod
    def known_symbols(cls, config: VenueConfig) -> Collection[str] | None:
        """The symbols this venue trades as far as its config tells without the network (`check`
        refuses a strategy instrument not among them); None when only the venue knows."""
        return None

    # --- lifecycle ----------------------------------------------------------------------------

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def instruments(self) -> Sequence[Instrument]: ...

    async def subscribe(self, instruments: Sequence[str], channels: Sequence[Channel]) -> None:
        raise NotSupported(self.name, "market data is not available from this venue")

    def replay(self, start_ns: int, end_ns: int) -> Iterator[Any]:
        """Historical or generated market data between two times, in time order (backtests)."""
        raise NotSupported(self.name, "this venue cannot replay market data for a backtest")

    async def candles(self, symbol: str, interval_s: int, start_ns: int, end_ns: int) -> Sequence[Bar]:
        """The venue's historical candles of `symbol` (as its instrument ids spell it after
        "venue:"), `interval_s` long, that overlap [start_ns, end_ns], oldest first, as `Bar`s
        (`ts_start` the candle's start); `run.py download` calls it on a connected venue."""
        raise NotSupported(self.name, "this venue has no historical candles to download")

    def replay_start_ns(self) -> int | None:
        """Where this venue's recorded data begins (a backtest starts there unless told); None
        for a source without a beginning (generated data)."""
        return None

    def replay_bar_seconds(self) -> int | None:
        """The length of the bars this venue replays itself, published as `Bar` under the key
        (instrument, seconds, "venue"); None when it replays no bars."""
        return None

    def register_instruments(self, instruments: Sequence[Instrument]) -> None:
        """The run's instruments (tick, lot, exchange) as the config declares them; a venue that
        simulates or validates orders keeps them, the others need not."""

    def request_stats(self) -> dict[str, Any]:
        """What the venue's REST traffic was: requests, answers by HTTP status, retries, and each
        rate limiter's busiest window (the run's summary shows it); empty when it has none.
        Read from the venue's `client` when it is the kit's `RestClient`."""
        client = getattr(self, "client", None)
        return client.request_counts() if isinstance(client, RestClient) else {}

    def session_state(self) -> str | None:
        """Where the venue's login session is (e.g. "active", "expired"); None without sessions."""
        return None

    def session_expiries(self) -> int:
        """How many times the venue's session has expired so far this run (each is logged in again)."""
        return 0

    def market_is_open(self, instrument: Instrument, ts_ns: int) -> bool | None:
        """Whether the venue's market for `instrument` is open at `ts_ns`; None when unknown."""
        return None

    # --- execution ----------------------------------------------------------------------------

    async def place(self, order: Order) -> OrderReport:
        raise NotSupported(self.name, "this venue does not take orders")

    async def cancel(self, order: Order) -> OrderReport | None:
        raise NotSupported(self.name, "this venue does not take orders")

    async def modify(
        self,
        order: Order,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> OrderReport | None:
        raise NotSupported(self.name, "this venue cannot modify orders")

    async def order_status(self, order: Order) -> OrderReport | None:
        """The venue's view of one order (by venue id, else client id); None if it never saw it."""
        raise NotSupported(self.name, "this venue does not take orders")

    async def open_orders(self) -> Sequence[OrderReport]:
        return ()

    async def fills_since(self, since_ns: int) -> Sequence[Fill]:
        return ()

    async def balances(self) -> Sequence[Balance]:
        return ()

    async def positions(self) -> Sequence[Position]:
        return ()
