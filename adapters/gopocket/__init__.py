"""GoPocket Open API: the venue package (docs/venues/gopocket.md).

Rooms: `config` (`GopocketConfig`, rate limits as data, the webhook block), `schemas` (REST and
Noren Structs, decoders), `auth` (the checksum, the session, its 0600 file), `client` (REST, typed
errors), `contracts` (the contract master, cached per day), `feed` (order-book poller, webhook
receiver, Noren socket), `parsing` (codes, the status table, builders, parsers), `login` (`run.py
login`), `adapter` (`GopocketVenue`, on the venue-sync core), and `emulator/`.

Where the sources were uncertain, what the adapter sends and what the emulator accepts:

- Session exchange: the SDK's `open-api/order/v1/vendor/getUserDetails` (the seed's
  `am/sso/vendor/auth/getUserDetails` and the docs' `am/sso/vendor/getUserDetails` are served by the
  emulator too); both answer forms read (`result[0].accessToken`, `userSession`).
- Auth header: `Bearer <session>` sent; `Bearer <userId> <session>` also taken by the emulator.
- Refusals: business failures HTTP 200 with `Not_Ok` (the SDK needs 200 to show the venue's text);
  401 for a bad session; `message` and `emsg` both read.
- Products: CNC / MIS / NORMAL (the SDK's enum has NORMAL, not NRML); C / I / M and the long names
  taken by the emulator.
- The client order id travels as `orderTag`, echoed in the order book: the lost-answer rule.
- Webhook authentication is undocumented: our secret `?key=` in the callback URL, and a Bearer of one
  of our sessions when a header is sent.
- Socket: the Noren dialect protocols.md describes; no official URL, so `ws_url` is empty by default.
- Rate limits: none published; 5 calls/s and 3 order-entry calls/s by default, configurable.
"""
