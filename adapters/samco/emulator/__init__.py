"""The Samco emulator: `app` (the app, routes, account and market data), `gate` (session token,
static IP, rate limits, refusals), `orders` (the order desk), `market` (the market as Samco shows
it), `ws` (the streaming server)."""

from adapters.samco.emulator.app import SamcoEmulator

__all__ = ["SamcoEmulator"]
