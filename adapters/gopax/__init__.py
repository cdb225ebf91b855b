"""GOPAX (Korean crypto exchange): the reference venue package.

Rooms: `config` (`GopaxConfig`), `schemas` (wire Structs and decoders), `auth` (both signing
schemes, nonces), `client` (REST, limits, typed errors, the private look over REST), `parsing`
(the status table, the socket's numeric codes, wire rows -> reports / fills, the order request),
`book` and `feed` (websocket and REST market data, private streams), `adapter` (`GopaxVenue`, on
the venue-sync core), and `emulator/` in the kit's rooms: `app` (the server, its routes and public
endpoints), `gate` (error bodies, rate limits, signature checks), `orders` (the private endpoints),
`market` (the market as GOPAX shows it) and `ws` (the socket server).

Where the sources were uncertain, what the adapter sends and what the emulator accepts:

- Signing. The seed's scheme (API-KEY, SIGNATURE, NONCE; prehash nonce+METHOD+path+body) and the
  current one (api-key, timestamp, signature; prehash 't'+timestamp+METHOD+path+body, with
  `GET /orders` signing its query string). The adapter sends the current scheme unless
  `signing: legacy`. The emulator verifies both, each strictly: the legacy prehash never holds a
  query (the seed's code strips it), the current one holds `GET /orders`' query. The adapter's
  usual `GET /orders` (open orders; polled every second without a socket) sends no query at all,
  `includePast=true` only when asked, so the hot call is signed the same under either reading.
- Auth failures' HTTP statuses are not documented per code: the emulator answers 401 for a bad
  key (10155), bad signature (10229), missing key (10230), stale/future timestamp (10263/10264)
  and a reused or lower nonce (10108); 400 for malformed auth headers (10231, 10265, 10296).
- Numbers: the official docs send prices and amounts as JSON numbers, ccxt as strings. The adapter
  sends numbers; the emulator accepts both.
- Not found: the seed's 202 and the current 10069 (order id) / 10221 (client order id) all become
  `OrderNotFound`. The emulator answers 404 with 10069 for an unknown numeric id, 202 for an id
  that is not a number, 10221 for an unknown client order id.
- `GET /trades` paging: the seed words `pastmax` as "excludes data older than this ID", the current
  docs as "data older than this ID"; the names say `pastmax` is an upper bound and `latestmin` a
  lower one, which the emulator implements (newest first). `after`/`before` are milliseconds in
  the seed, seconds in the current docs and ccxt: the adapter sends seconds (if the server took
  them as ms, it would return more, never less; rows are filtered by time locally); the emulator
  accepts both, told apart by magnitude.
- Order book ids: the official docs call `entryId` "+1 incremental"; a third-party probe of the live
  socket found one exchange-wide counter, so a lost delta cannot be seen as a hole in the ids. The
  emulator uses one counter for all pairs; the local book detects loss by its symptoms (a deletion
  of an unknown level, a crossed book) and reloads from `GET /book` (see `book.py`).
- The socket's order objects carry no `clientOrderId` in the docs; the emulator leaves it out
  (`ws_client_order_ids` adds it); the adapter never needs it: the order manager matches reports
  and fills by GOPAX's order id. Socket request ids (`i`) are integers, as documented; the
  emulator refuses any other kind.
- `GET /book`'s `sequence` is not assumed to be on the socket's entry-id scale: a REST snapshot's
  floor is its largest entry id (`book.py`); the emulator's `book_sequence` knob tries the others.
- `protection` is sent and echoed; the emulator does not simulate the 10% price guard.
- A self-trade would give two fills with one trade id; GOPAX's handling is unknown and the
  emulator never self-trades.
- Price ticks come from `price-tick-size` tiers at the price of the moment (`GET /tickers`): an
  instrument's tick is fixed for the run even if the price later crosses a tier.
"""
