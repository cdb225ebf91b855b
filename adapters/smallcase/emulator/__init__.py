"""The smallcase Gateway emulator: `app` (the aiohttp application, its routes, the user's SDK step
and postbacks), `gate` (gateway name, x-gateway-secret and auth tokens; smallcase publishes no rate
limits), `market` (transactions and the users' broker and leprechaun accounts over the shared
matching engine). smallcase has no socket, so there is no `ws` module."""

from adapters.smallcase.emulator.app import SmallcaseEmulator

__all__ = ["SmallcaseEmulator"]
