"""Firstock ("Firstock Connect", V1 REST + V2 socket): the venue package (docs/venues/firstock.md).

Rooms: `config` (`FirstockConfig`), `schemas` (REST and socket Structs, decoders), `auth` (the
password hash, the TOTP, the session's state machine), `client` (REST, the jKey in every body,
typed errors), `securities` (symbols resolved and cached per day), `feed` (the V2 socket, the quote
poller), `parsing` (wire codes, the Noren status table, request builders, parsers), `adapter`
(`FirstockVenue`, on the venue-sync core), and `emulator/`: `app` (routes, account, market data),
`gate` (login, jKey, roll-over, rate limits), `orders` (the order desk), `market` (the market as
Firstock shows it), `ws` (the socket server).
"""
