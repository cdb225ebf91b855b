"""smallcase Gateway: transactions a user completes in smallcase's SDK, and leprechaun accounts.

Not a broker API: the partner's backend creates a transaction, the user completes it in smallcase's
SDK, and the result comes back by polling or by postback. A partner cannot place an order for a
user server to server, so the adapter turns the orders of one rebalance into one transaction and
waits for its outcome (see adapter.py). Leprechaun (virtual) accounts are the product's second kind
of paper mode: the production adapter against a broker's test account, modelled by the emulator.

Rooms: `config` (the venue's config Struct), `schemas` (wire Structs, decoders), `auth` (the users'
JWTs, x-gateway-secret, the postback checksum), `client` (REST, the error envelope as typed errors),
`feed` (the transaction poller and the postback receiver), `parsing` (wire words both ways: codes,
the status tables and the rule for an unknown word, views, where a view puts an order),
`transactions` (the transactions followed, their orders, delivery through the venue-sync core),
`adapter` (`SmallcaseVenue`: baskets -> transactions, the core's questions), and the `emulator`
package: `app` (the routes, the SDK step's endpoints, postbacks), `gate` (auth), `market`
(transactions and accounts over the shared market).

Where the sources were uncertain ([I] in protocols.md, NOT FOUND), what the adapter sends and what
the emulator accepts:

- The seed's two sample auth tokens do not verify with the secret it names ("have-a-good-day"):
  HS256 over their own header.payload gives another signature (tests/engine/test_jwt.py). The
  emulator, strict, refuses them under that secret; tokens made with it verify.
- Auth tokens carry `exp` (the emulator refuses one without; expired from `exp` on, RFC 7519) and
  are checked on the emulator's clock, so a run's `start:` and the emulator's `emulator_start`
  should be the same instant (they are unless told otherwise). The adapter makes them with
  `token_ttl_s` (120 s) of life on wall-clock time, or on the engine's clock when the gateway is
  emulated (`emulator: true`); transaction deadlines and postback ages follow the same clock.
- Paths. Create: `POST /gateway/{gateway}/transaction` (consistent across integrators). Status:
  `GET /v1/{gateway}/engine/transactiondetails?transactionId=` (the query name is inferred); the
  emulator also serves `GET /gateway/{gateway}/transaction/{transactionId}`. Order details:
  `GET /v1/{gateway}/engine/orderdetails?transactionId=` (path inferred; the emulator also takes
  `transactionIds=`). Holdings: `GET /v1/{gateway}/engine/user/holdings` (and
  `/gateway/{gateway}/user/holdings`), a connected user's token only.
- Error bodies: `{"success": false, "errors": ["<name>"], "data": null}`; the adapter also reads
  errors given as objects with a `message`. Names: the SDK's (invalid_jwt, market_closed, ...)
  plus `invalid_gateway_secret`, `invalid_order_config`, `intent_not_supported`,
  `user_not_connected`. SDK error numbers are not published: the emulator uses 1000 + the name's
  place in protocols.md 5.5's list; the adapter reads names only.
- The create answer's `data` holds `transactionId` (documented) and `expireAt` (the emulator's).
  The adapter does not rely on `expireAt`: an unused (INITIALIZED) transaction expires by its own
  clock, `transaction_ttl_s` after the creation answer, and is read `expiry_grace_s` longer; one
  the user has begun (USED, PROCESSING, ACTION_REQUIRED) is read until COMPLETED or ERRORED (an
  ERRORED `transaction_expired` expires the orders).
- An unused transaction keeps INITIALIZED after its 5 minutes (no expired status is documented);
  the user's step then fails with `transaction_expired` and the transaction becomes ERRORED. A
  step begun within the 5 minutes may finish after them.
- Order details show batches only for COMPLETED transactions (documented); the adapter also reads
  them for PROCESSING ones. COMPLETED is final: orders still working in it end cancelled. An error
  answer is `invalid_transactionId` (the transaction does not exist) only when it says so; a bare
  404 (a proxy, a wrong path) is a failed read, read again.
- Postbacks: the URL is registered with smallcase (out of band); the emulator takes it at
  `POST /emulator/postback`, which the adapter calls when `postback.register_path` is set (done
  for you with `emulator: true`). The payload is the order result plus `smallcaseAuthId`, with
  `status`, `error` and `timestamp` added [I]. Authentication: hex HMAC-SHA256 with the api secret,
  scheme `field` (default: `{"data": "<payload JSON>", "checksum": ...}`) or `header`
  (`x-gateway-checksum` over the raw body); a postback needs a `timestamp`; an exact repeat is
  answered 200 and not applied twice, a stale one refused (see feed.py).
- Leprechaun mode is a flag of smallcase's SDK: against the real gateway the user still goes
  through the SDK, and the adapter logs each transaction's link. Emulator only: the adapter opens
  the link itself and the emulator's virtual user completes the transaction; the emulator's
  leprechaun hours are a setting (`emulator_leprechaun_hours`, default NSE's calendar), since
  smallcase sets them.
- Leprechaun test tokens are not public. Emulator only: it names its virtual accounts by token,
  the token being also the account's smallcaseAuthId (see emulator.market.ACCOUNTS and the README).
- Only market orders (SECURITIES orders of NSE tickers, delivery): limit prices, AMOs (`variety:
  amo`) and smallcase (scid) orders are not modelled. PROCESSING and ACTION_REQUIRED are modelled
  only as states a step can pause in (the emulator's `pause_at`), not their causes.
"""
