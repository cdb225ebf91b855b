"""The GOPAX emulator: `app` (the server, its routes, the public endpoints, the exchange's news),
`gate` (signatures, nonces and rate limits), `orders` (the private endpoints), `market` (the pairs,
the public book and the wire shapes of orders and trades), `ws` (the socket)."""

from adapters.gopax.emulator.app import GopaxEmulator

__all__ = ["GopaxEmulator"]
