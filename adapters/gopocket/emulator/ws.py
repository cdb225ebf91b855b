"""The emulator's Noren-dialect socket (/NorenWS/), as protocols.md describes it [T/I].

The upgrade is open; the first frame must be the connect `{"t":"c","uid","actid","susertoken",
"source"}` with `susertoken = sha256(sha256(userSession))` of a live session of that user ->
`{"t":"ck","s":"OK","uid"}`; anything else first, or a bad token, gets `{"t":"ck","s":"NOT_OK",
"emsg"}` and the socket closed. Then: `{"t":"h"}` heartbeats (counted, not answered), touchline
`{"t":"t","k":"NSE|3045#NSE|2885"}` -> one `tk` per token then `tf` on every tick, depth `{"t":"d"}`
-> `dk` then `df`, unsubscribe `{"t":"u"}` / `{"t":"ud"}` -> `uk` / `udk`, order updates
`{"t":"o","actid"}` -> `ok` then an `om` per order change. A frame that is not JSON or not one of
these is answered `{"t":"er","emsg"}` and counted. Every connection writes through the kit's
`SocketWriter`, so the fault knobs (drops, held and duplicated pushes) apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from adapters.gopocket.feed import susertoken
from adapters.simulation.emulation import Faults, SocketWriter


class Host(Protocol):
    def session_for_hash(self, uid: str, hashed: str) -> bool: ...

    def touch_frame(self, token: str, ack: bool) -> dict[str, str] | None: ...

    def depth_frame(self, token: str, ack: bool) -> dict[str, str] | None: ...


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


class Client:
    def __init__(self, ws: web.WebSocketResponse, faults: Faults) -> None:
        self.ws = ws
        self.uid = ""
        self.authed = False
        self.touch: set[str] = set()
        self.depth: set[str] = set()
        self.orders = False
        self.heartbeats = 0
        self.writer = SocketWriter(ws, faults)

    def push(self, frame: dict[str, Any]) -> None:
        self.writer.push(dumps(frame))


class NorenServer:
    def __init__(self, host: Host, faults: Faults) -> None:
        self.host = host
        self.faults = faults
        self.clients: set[Client] = set()
        self.connections = 0
        self.refused = 0
        self.malformed = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        client = Client(ws, self.faults)
        self.connections += 1
        client.writer.start()
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT and not self._receive(client, msg.data):
                    break
        finally:
            self.clients.discard(client)
            await client.writer.close()
            if not ws.closed:
                await ws.close()
        return ws

    async def close_all(self) -> None:
        for client in list(self.clients):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.ws.close(), 2.0)

    def _receive(self, client: Client, text: str) -> bool:
        """Handle one frame; False ends the connection."""
        try:
            frame = json.loads(text)
            kind = frame.get("t") if isinstance(frame, dict) else None
        except ValueError:
            kind, frame = None, {}
        if not client.authed:
            return self._connect(client, frame if kind == "c" else {})
        if kind == "h":
            client.heartbeats += 1
        elif kind in ("t", "d", "u", "ud"):
            self._market(client, kind, str(frame.get("k", "")))
        elif kind == "o":
            client.orders = True
            client.push({"t": "ok"})
        elif kind == "uo":
            client.orders = False
            client.push({"t": "uok"})
        else:
            self.malformed += 1
            client.push({"t": "er", "emsg": f"unknown or malformed frame: {text[:80]}"})
        return True

    def _connect(self, client: Client, frame: dict[str, Any]) -> bool:
        uid = str(frame.get("uid", "")).upper()
        if not frame or not self.host.session_for_hash(uid, str(frame.get("susertoken", ""))):
            self.refused += 1
            client.push({"t": "ck", "s": "NOT_OK", "emsg": "Invalid session key"})
            return False
        client.uid, client.authed = uid, True
        self.clients.add(client)
        client.push({"t": "ck", "s": "OK", "uid": uid})
        return True

    def _market(self, client: Client, kind: str, keys: str) -> None:
        tokens = [k for k in keys.split("#") if k]
        if not tokens:
            self.malformed += 1
            client.push({"t": "er", "emsg": "k: no instruments"})
            return
        if kind in ("u", "ud"):
            (client.touch if kind == "u" else client.depth).difference_update(tokens)
            client.push({"t": "uk" if kind == "u" else "udk", "k": keys})
            return
        for token in tokens:
            make = self.host.touch_frame if kind == "t" else self.host.depth_frame
            ack = make(token, True)
            if ack is None:
                continue
            (client.touch if kind == "t" else client.depth).add(token)
            client.push(ack)

    # --- pushes (synchronous: from the exchange's notifications) ------------------------------

    def publish(self, token: str) -> None:
        touch = depth = None
        for client in self.clients:
            if token in client.touch:
                touch = touch or self.host.touch_frame(token, False)
                if touch is not None:
                    client.push(touch)
            if token in client.depth:
                depth = depth or self.host.depth_frame(token, False)
                if depth is not None:
                    client.push(depth)

    def order_update(self, uid: str, update: dict[str, str]) -> None:
        for client in self.clients:
            if client.orders and client.uid == uid:
                client.push(update)


__all__ = ["NorenServer", "susertoken"]
