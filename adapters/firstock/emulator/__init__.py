"""The Firstock emulator: `app` (the app, routes, account and market data), `gate` (login, jKey,
the daily roll-over, rate limits, refusals), `orders` (the order desk), `market` (the market as
Firstock shows it), `ws` (the V2 socket)."""

from adapters.firstock.emulator.app import FirstockEmulator

__all__ = ["FirstockEmulator"]
