"""The GoPocket emulator: `app` (the app, routes, account, webhook, market news), `gate` (SSO, the
Bearer session, rate limits, the envelope), `orders` (the order desk), `market` (the market as
GoPocket shows it), `ws` (the Noren socket)."""

from adapters.gopocket.emulator.app import GopocketEmulator

__all__ = ["GopocketEmulator"]
