"""The emulator's streaming server: Samco's broadcast socket on one aiohttp route.

The upgrade needs a valid `x-session-token` header (401 with Samco's failure body otherwise).
Requests are newline-delimited JSON: text without its "\\n" waits in the connection's buffer, as on
the real streamer, so a client that forgets it never gets a subscription. Every plausible form is
taken: the request wrapped in {"request": ...} or not, `symbols` inside `data` or beside it, as a list
or as the older docs' string "[{'symbol':'2885_NSE'}]", `streaming_type` quote or quote2 (also
"marketdata"/"marketDepth"; quote2 when absent, as in the SDK). A subscription gets the current tick
at once. Quote ticks go out flat, as the v3.2 docs show them; depth ticks wrapped in "response",
newline-terminated. Each connection writes through a shared `emulation.SocketWriter` (a queue and a
writer task, so the exchange's synchronous notifications never wait on a socket;
`faults.ws_drop_after` closes a connection after that many frames).

A request the streamer cannot read is refused, not silently dropped: a line that is not JSON, a
`request_type` other than subscribe/unsubscribe, an unknown `streaming_type`, or no symbols gets
one frame back, {"response": {"streaming_type": <given>, "status": "Failure", "statusMessage":
<why>}}, newline-terminated (Samco documents no error frame; this is the emulator's choice, and
the feed counts and logs such frames).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from adapters.simulation.emulation import Faults, SocketWriter

DEPTH_TYPES = frozenset({"quote2", "marketdata", "marketdepth"})
STREAMING_TYPES = DEPTH_TYPES | {"quote"}
REQUEST_TYPES = frozenset({"subscribe", "unsubscribe"})


class Malformed(Exception):
    """A request frame the streamer refuses (the message says why)."""


class Host(Protocol):
    """What the stream server asks of the emulator."""

    def check_token(self, token: str | None) -> web.Response | None: ...

    def quote_text(self, token: str) -> str | None: ...

    def depth_text(self, token: str) -> str | None: ...


class Subscriber:
    """One client socket: its subscriptions, its unread input, its writer."""

    def __init__(self, ws: web.WebSocketResponse, faults: Faults) -> None:
        self.ws = ws
        self.quotes: set[str] = set()
        self.depths: set[str] = set()
        self.buffer = ""
        self.writer = SocketWriter(ws, faults)
        self.requests = 0

    @property
    def sent(self) -> int:
        return self.writer.sent

    def push(self, text: str) -> None:
        self.writer.push(text)


def _symbols(body: dict[str, Any]) -> list[str]:
    raw = (body.get("data") or {}).get("symbols") if isinstance(body.get("data"), dict) else None
    raw = raw if raw is not None else body.get("symbols", [])
    if isinstance(raw, str):
        try:
            raw = json.loads(raw.replace("'", '"'))
        except ValueError:
            raise Malformed("symbols is not a list") from None
    if not isinstance(raw, list):
        raise Malformed("symbols is not a list")
    symbols = [str(item["symbol"]) for item in raw if isinstance(item, dict) and item.get("symbol")]
    if not symbols or len(symbols) != len(raw):
        raise Malformed("symbols must be a non-empty list of {\"symbol\": ...}")
    return symbols


def failure_frame(streaming_type: str, message: str) -> str:
    """How the emulator refuses a request it cannot read (see the module docstring)."""
    body = {"response": {"streaming_type": streaming_type, "status": "Failure", "statusMessage": message}}
    return json.dumps(body, separators=(",", ":")) + "\n"


class StreamServer:
    def __init__(self, host: Host, faults: Faults) -> None:
        self.host = host
        self.faults = faults
        self.subscribers: set[Subscriber] = set()
        self.connections = 0
        self.refused = 0
        self.malformed = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        refusal = self.host.check_token(request.headers.get("x-session-token"))
        if refusal is not None:
            self.refused += 1
            return refusal  # before the upgrade, with Samco's failure body
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        sub = Subscriber(ws, self.faults)
        self.subscribers.add(sub)
        self.connections += 1
        sub.writer.start()
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._receive(sub, msg.data)
        finally:
            self.subscribers.discard(sub)
            await sub.writer.close()
        return ws

    async def close_all(self) -> None:
        for sub in list(self.subscribers):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sub.ws.close(), 2.0)

    def _receive(self, sub: Subscriber, text: str) -> None:
        sub.buffer += text
        while "\n" in sub.buffer:
            line, sub.buffer = sub.buffer.split("\n", 1)
            if not line.strip():
                continue
            kind = ""
            try:
                frame = json.loads(line)
                body = frame.get("request", frame) if isinstance(frame, dict) else None
                if not isinstance(body, dict):
                    raise Malformed("the request is not a JSON object")
                kind = str(body.get("streaming_type", "quote2"))
                self._request(sub, body, kind)
            except (ValueError, Malformed) as exc:
                self.malformed += 1
                sub.push(failure_frame(kind, str(exc) if isinstance(exc, Malformed) else "the request is not JSON"))

    def _request(self, sub: Subscriber, body: dict[str, Any], kind: str) -> None:
        if kind.lower() not in STREAMING_TYPES:
            raise Malformed(f"unknown streaming_type {kind!r}")
        request_type = str(body.get("request_type", "subscribe")).lower()
        if request_type not in REQUEST_TYPES:
            raise Malformed(f"unknown request_type {request_type!r}")
        depth = kind.lower() in DEPTH_TYPES
        subscribe = request_type == "subscribe"
        target = sub.depths if depth else sub.quotes
        symbols = _symbols(body)
        sub.requests += 1
        for token in symbols:
            if not subscribe:
                target.discard(token)
                continue
            text = self.host.depth_text(token) if depth else self.host.quote_text(token)
            if text is None:
                continue  # not a symbol the streamer knows
            target.add(token)
            sub.push(text)

    # --- pushes (synchronous: called from the exchange's notifications) -----------------------

    def publish(self, token: str) -> None:
        """Send `token`'s fresh tick to whoever subscribed to it."""
        quote: str | None = None
        depth: str | None = None
        for sub in self.subscribers:
            if token in sub.quotes:
                quote = quote or self.host.quote_text(token)
                if quote is not None:
                    sub.push(quote)
            if token in sub.depths:
                depth = depth or self.host.depth_text(token)
                if depth is not None:
                    sub.push(depth)
