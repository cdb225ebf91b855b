"""Samco Trade API ("StockNote"): the venue package (docs/venues/samco.md).

Rooms: `config` (`SamcoConfig`), `schemas` (REST Structs and decoders), `ticks` (the streaming
socket's Structs), `auth` (the session token's state machine), `client` (REST, typed errors, the
static-IP answer), `scrip` (the scrip master and its daily cache), `feed` (the streaming socket,
the quote poller, the order poller), `parsing` (wire codes, the status table, request builders,
parsers), `attribution` (order number -> client order id, persisted), `adapter` (`SamcoVenue`, on
the venue-sync core), and `emulator/`: `app` (routes, account, market data), `gate` (session,
static IP, rate limits), `orders` (the order desk), `market` (the market as Samco shows it), `ws`
(the streaming server).

Where the sources were uncertain, what the adapter sends and what the emulator accepts:

- Login: only the v3.2 direct flow (POST /session/token {apiKey, apiSecret}); the deprecated chain
  and OAuth are left out. Expiry: the seed's "08:00 IST the next calendar day" - a token issued at
  07:50 lives until 08:00 of the next day, so renewing ten minutes ahead gains a day. The literal
  "next 08:00 after issue" reading would make such a renewal useless; should Samco answer that way,
  a renewal that buys no time makes the session wait for the expiry itself before the next login
  (no storm of ever-closer logins; never two logins closer than `min_login_interval_s` unless the
  venue refused the token). The adapter reads the expiry from `validity` (SDK README), else the
  JWT's `exp`, else the rule. The emulator signs HS256 JWTs, answers `validity` too (`expiry_rule`
  picks the reading), and keeps an older token valid until its own expiry (a new login does not
  revoke it; DELETE /logout does). EOAUTH009 (a login from an unregistered IP) is only in
  third-party code and the seed says unregistered IPs are refused by order-related APIs: the
  emulator can refuse such a login (`login_ip_check`, 403 with EOAUTH009) but does not by default.
- Failures: Samco's HTTP codes for business failures are not documented. The emulator answers 400
  with {"status":"Failure","statusMessage":...}; the adapter reads the envelope at any status (a
  2xx carrying "Failure" included) and types it by the message (`client.ERROR_PATTERNS`).
- Static IP: which calls are refused is documented only as "order-related": the emulator refuses
  order entry (place, modify, cancel) from unregistered addresses with 403; login, reads and
  GET /ip/whoami work from anywhere. The client explains a 403 (asking whoami) only on order entry
  or when Samco's text names the IP, and never the 403 of whoami itself. whoami: the docs' flat
  {srcIp, primaryIp, secondaryIp, matches, matchedAs} and the SDK README's {data: {ip, registered}}
  are both sent and both read.
- Rate limits: Samco publishes none. The adapter keeps to `requests_per_s`; the emulator enforces
  nothing unless `rate_limit` (calls, window) is set, then answers 429 with the Failure envelope.
- placeOrder: MKT and SL-M orders send price "0" (the most common form among Indian brokers' APIs;
  the emulator ignores price for them); disclosedQuantity "0" unless `Order.options["disclosed_qty"]`.
  symbolName is the bare symbol ("RELIANCE"); the emulator also takes "RELIANCE-EQ".
- RMS: the emulator decides margin at placement; the placeOrder answer's exchangeOrderStatus is the
  order's real state (PENDING, EXECUTED, Rejected, "After market order req received"), and a
  rejection's reason is read from the order book's rejectionReason. With `rms_after_ack` it answers
  PENDING and the RMS decides a tick later, as a real Samco may: the order poller then reports
  placed -> rejected with the RMS reason (the engine's table allows it).
- Cancel: "Order cancelled successfully" means accepted; the exchange may still fill the order
  first (the emulator's `cancel_delay_s`). The adapter reports the end only once getOrderStatus or
  the order poller shows it.
- Trade book: the list key is `tradeBookDetails` (SDK) or `orderBookDetails` (a docs sample), both
  read; a row's size is `tradeQuantity` when present (the emulator sends it) else `filledQuantity`,
  read as cumulative when an order's rows add up to more than the order book's filledQuantity, and
  an order's fills are never delivered beyond it (the emulator's `minimal_trade_book` sends rows
  without tradeNumber and tradeQuantity); its time is tradeDate ("20NOV2026") + tradeTime
  ("09:20:01"), or a full date-time in tradeTime.
- Streaming: quote ticks flat (v3.2 docs) or wrapped in {"response": ...} (older docs, depth), one or
  more per message, newline-terminated or not: all read. `lttUTC` ("01 Oct 2019, 01:17:03 PM", UTC)
  is the tick's time. The emulator sends quotes flat and depth wrapped; it takes requests wrapped or
  not, `symbols` as a list or the older string form, and buffers text until its "\\n". A request it
  cannot read (not JSON, an unknown request or streaming type, no symbols) gets an error frame
  {"response": {"status": "Failure", "statusMessage": ...}} - Samco documents none; the feed logs
  and counts such frames.
- Scrip master: https://developers.stocknote.com/doc/ScripMaster.csv (third-party readers) with
  columns exchange, exchangeSegment, symbolCode, tradingSymbol, name, lastPrice, instrument, lotSize,
  strikePrice, expiryDate, tickSize; `symbolCode` is the streaming id, "_<EXCHANGE>" added if bare.
- Order statuses not in the table (e.g. a "Modified" some brokers show) go to the sync core's
  unknown-status rule (counted, logged once, the order asked about again), never guessed.
- After-market orders: the flag during market hours is undocumented; the emulator then treats the
  order as a normal one. Held AMOs reach the matching engine at india's `next_open`; a margin
  shortfall then shows as an RMS rejection. DAY orders expire at the session close (shown Cancelled).
- Product: CNC on NFO/BFO/MCX/CDS is sent as NRML (delivery means nothing for a derivative); the
  emulator refuses CNC there, as the exchange would.
- Positions in the emulator: DAY from today's trades (IST date), NET from every trade since it
  started; holdings are the demo account's shares. Its market keeps moving outside market hours,
  so a demo always streams, though orders then need the AMO flag.
"""
