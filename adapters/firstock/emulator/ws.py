"""The emulator's V2 socket: Firstock's market data and order updates on one aiohttp route.

The upgrade carries `?userId=&jKey=&source=` (no headers needed). Its first frame is
{"status": "success", "message": "Authentication successful"}, or {"status": "failed", "message":
...} and the close when the jKey is not live (unknown, logged out, rolled over, expired).
Requests: {"action": "subscribe" | "unsubscribe", "tokens": "NSE:2885|NSE:3045"}; a subscription
gets the current tick at once, then every tick. Ticks go out flat (`wrapped_ticks`: as
{"NSE:2885": {...}}); prices in paise. Order updates of the user go to each of its sockets.
A request it cannot read gets {"status": "failed", "message": why}. Each connection writes through
the kit's `SocketWriter` (its faults: dropped, held, duplicated frames); `close_lapsed` closes the
sockets whose session ended (the daily roll-over, `expire_sessions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Protocol

from aiohttp import WSMsgType, web

from adapters.simulation.emulation import Faults, SocketWriter

AUTH_OK = json.dumps({"status": "success", "message": "Authentication successful"}, separators=(",", ":"))
ACTIONS = frozenset({"subscribe", "unsubscribe", "subscribe-option-greeks", "unsubscribe-option-greeks"})


class Host(Protocol):
    """What the socket server asks of the emulator."""

    def session_problem(self, user_id: str, jkey: str) -> str | None: ...

    def tick_text(self, key: str) -> str | None: ...


def failed_frame(message: str) -> str:
    return json.dumps({"status": "failed", "message": message}, separators=(",", ":"))


class Subscriber:
    def __init__(self, ws: web.WebSocketResponse, faults: Faults, user_id: str, jkey: str) -> None:
        self.ws = ws
        self.user_id = user_id
        self.jkey = jkey
        self.tokens: set[str] = set()
        self.writer = SocketWriter(ws, faults)

    def push(self, text: str) -> None:
        self.writer.push(text)


class StreamServer:
    def __init__(self, host: Host, faults: Faults) -> None:
        self.host = host
        self.faults = faults
        self.subscribers: set[Subscriber] = set()
        self.connections = 0
        self.refused = 0
        self.malformed = 0
        self.wrapped_ticks = False

    async def handle(self, request: web.Request) -> web.StreamResponse:
        user_id, jkey = request.query.get("userId", ""), request.query.get("jKey", "")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        why = self.host.session_problem(user_id, jkey)
        if why is not None:
            self.refused += 1
            await ws.send_str(failed_frame(why))
            await ws.close()
            return ws
        sub = Subscriber(ws, self.faults, user_id, jkey)
        await ws.send_str(AUTH_OK)  # before the writer starts: always the first frame
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

    async def close_lapsed(self) -> int:
        """Close every socket whose session is no longer live."""
        lapsed = [s for s in list(self.subscribers) if self.host.session_problem(s.user_id, s.jkey) is not None]
        for sub in lapsed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sub.ws.close(), 2.0)
        return len(lapsed)

    def _receive(self, sub: Subscriber, text: str) -> None:
        try:
            frame = json.loads(text)
            if not isinstance(frame, dict):
                raise ValueError("the request is not a JSON object")
            action, tokens = frame.get("action"), frame.get("tokens")
            if action not in ACTIONS:
                raise ValueError(f"unknown action {action!r}")
            if not isinstance(tokens, str) or not tokens.strip():
                raise ValueError("tokens must be a string like NSE:2885|NSE:3045")
        except ValueError as exc:
            self.malformed += 1
            sub.push(failed_frame(str(exc)))
            return
        if action.endswith("option-greeks"):
            return  # no option greeks in this emulator
        for key in (t.strip() for t in tokens.split("|") if t.strip()):
            if action == "unsubscribe":
                sub.tokens.discard(key)
                continue
            text_now = self.host.tick_text(key)
            if text_now is None:
                sub.push(failed_frame(f"invalid token {key}"))
                continue
            sub.tokens.add(key)
            sub.push(self._shaped(key, text_now))

    def _shaped(self, key: str, tick: str) -> str:
        return f'{{"{key}":{tick}}}' if self.wrapped_ticks else tick

    # --- pushes (synchronous: called from the exchange's notifications) -----------------------

    def publish_tick(self, key: str) -> None:
        text: str | None = None
        for sub in self.subscribers:
            if key in sub.tokens:
                text = text or self.host.tick_text(key)
                if text is not None:
                    sub.push(self._shaped(key, text))

    def publish_order(self, user_id: str, text: str) -> None:
        for sub in self.subscribers:
            if sub.user_id == user_id:
                sub.push(text)
