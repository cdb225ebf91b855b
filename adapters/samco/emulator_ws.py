"""The emulator's streaming server: Samco's broadcast socket on one aiohttp route.

The upgrade needs a valid `x-session-token` header (401 with Samco's failure body otherwise).
Requests are newline-delimited JSON: text without its "\\n" waits in the connection's buffer, as on
the real streamer, so a client that forgets it never gets a subscription. Every plausible form is
taken: the request wrapped in {"request": ...} or not, `symbols` inside `data` or beside it, as a list
or as the older docs' string "[{'symbol':'2885_NSE'}]", `streaming_type` quote or quote2 (also
"marketdata"/"marketDepth"; quote2 when absent, as in the SDK). A subscription gets the current tick
at once. Quote ticks go out flat, as the v3.2 docs show them; depth ticks wrapped in "response",
newline-terminated. Each connection has its own queue and writer, so the exchange's synchronous
notifications never wait on a socket; `faults.ws_drop_after` closes a connection after that many
frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from adapters.paper.emulation import Faults

DEPTH_TYPES = frozenset({"quote2", "marketdata", "marketdepth"})


class Host(Protocol):
    """What the stream server asks of the emulator."""

    def check_token(self, token: str | None) -> web.Response | None: ...

    def quote_text(self, token: str) -> str | None: ...

    def depth_text(self, token: str) -> str | None: ...


class Subscriber:
    """One client socket: its subscriptions, its unread input, its outgoing queue."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.quotes: set[str] = set()
        self.depths: set[str] = set()
        self.buffer = ""
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent = 0
        self.requests = 0


def _symbols(body: dict[str, Any]) -> list[str]:
    raw = (body.get("data") or {}).get("symbols") if isinstance(body.get("data"), dict) else None
    raw = raw if raw is not None else body.get("symbols", [])
    if isinstance(raw, str):
        raw = json.loads(raw.replace("'", '"'))
    return [str(item["symbol"]) for item in raw if isinstance(item, dict) and "symbol" in item]


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
        sub = Subscriber(ws)
        self.subscribers.add(sub)
        self.connections += 1
        writer = asyncio.get_running_loop().create_task(self._write(sub))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._receive(sub, msg.data)
        finally:
            self.subscribers.discard(sub)
            sub.queue.put_nowait(None)
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(writer, 2.0)
        return ws

    async def close_all(self) -> None:
        for sub in list(self.subscribers):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sub.ws.close(), 2.0)

    async def _write(self, sub: Subscriber) -> None:
        while (text := await sub.queue.get()) is not None and not sub.ws.closed:
            await sub.ws.send_str(text)
            sub.sent += 1
            limit = self.faults.ws_drop_after
            if limit is not None and sub.sent >= limit:
                self.faults.injected += 1
                await sub.ws.close()
                return

    def _receive(self, sub: Subscriber, text: str) -> None:
        sub.buffer += text
        while "\n" in sub.buffer:
            line, sub.buffer = sub.buffer.split("\n", 1)
            if not line.strip():
                continue
            try:
                self._request(sub, json.loads(line))
            except (ValueError, TypeError, KeyError, AttributeError):
                self.malformed += 1  # the streamer ignores what it cannot read

    def _request(self, sub: Subscriber, frame: dict[str, Any]) -> None:
        body = frame.get("request", frame)
        depth = str(body.get("streaming_type", "quote2")).lower() in DEPTH_TYPES
        subscribe = str(body.get("request_type", "subscribe")).lower() == "subscribe"
        target = sub.depths if depth else sub.quotes
        sub.requests += 1
        for token in _symbols(body):
            if not subscribe:
                target.discard(token)
                continue
            text = self.host.depth_text(token) if depth else self.host.quote_text(token)
            if text is None:
                continue  # not a symbol the streamer knows
            target.add(token)
            sub.queue.put_nowait(text)

    # --- pushes (synchronous: called from the exchange's notifications) -----------------------

    def publish(self, token: str) -> None:
        """Send `token`'s fresh tick to whoever subscribed to it."""
        quote: str | None = None
        depth: str | None = None
        for sub in self.subscribers:
            if token in sub.quotes:
                quote = quote or self.host.quote_text(token)
                if quote is not None:
                    sub.queue.put_nowait(quote)
            if token in sub.depths:
                depth = depth or self.host.depth_text(token)
                if depth is not None:
                    sub.queue.put_nowait(depth)
