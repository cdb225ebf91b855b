"""The engine's HTTP surface, in the engine's own loop: the status page, its JSON and server-sent
events, the controls (bearer token), and /metrics."""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from engine.ops.config import HttpConfig, parse_listen
from engine.ops.controls import ControlError, Controls
from engine.ops.metrics import render_metrics
from engine.ops.status import build_status, encode

if TYPE_CHECKING:
    from engine.app.runner import Engine
    from engine.ops.state import OpsState

log = structlog.get_logger("tickbus.ops")
PAGE = Path(__file__).with_name("page") / "status.html"


class OpsServer:
    def __init__(self, engine: Engine, state: OpsState, config: HttpConfig) -> None:
        self.engine = engine
        self.state = state
        self.config = config
        self.controls = Controls(engine)
        self.token = config.token or ""
        self.host, self.port = parse_listen(config.listen)
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/api/strategies/{strategy}/{action}", self._strategy_control)
        app.router.add_post("/api/cancel_all", self._cancel_all)
        app.router.add_post("/api/kill_switch", self._kill_switch)
        return app

    async def start(self) -> None:
        if not self.token:
            self.token = self._make_token()
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else self.port
        self.port = port
        self.url = f"http://{self.host}:{port}/"
        log.info("status page serving", url=self.url)

    def _make_token(self) -> str:
        """No token configured: make one, and leave it where only this user can read it."""
        token = secrets.token_urlsafe(24)
        path = Path(self.engine.plan.config.state_dir) / "http-token"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        from engine.log import register_secret

        register_secret(token)
        log.info("controls token written (no http.token configured)", path=str(path))
        return token

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- reading --------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})

    def _document(self) -> bytes:
        return encode(build_status(self.engine, self.state))

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(body=self._document(), content_type="application/json")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await response.prepare(request)
        try:
            while not self._closing.is_set():
                await response.write(b"data: " + self._document() + b"\n\n")
                try:
                    await asyncio.wait_for(self._closing.wait(), timeout=self.config.push_s)
                except TimeoutError:
                    pass
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=render_metrics(self.state), headers={"Content-Type": "text/plain; version=0.0.4"})

    # --- controls -------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        ok = scheme.lower() == "bearer" and bool(given) and hmac.compare_digest(given.encode(), self.token.encode())
        if not ok:
            log.warning("control refused: missing or wrong bearer token", path=request.path,
                        remote=request.remote, had_header=bool(header))
        return ok

    async def _control(self, request: web.Request, action: Any) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "a bearer token is needed"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                parsed = await request.json()
            except ValueError:
                return web.json_response({"error": "the body is not JSON"}, status=400)
            if isinstance(parsed, dict):
                body = parsed
        try:
            result = action(body)
        except ControlError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        return web.Response(body=encode(result), content_type="application/json")

    async def _strategy_control(self, request: web.Request) -> web.Response:
        sid = request.match_info["strategy"]
        action = request.match_info["action"]
        c = self.controls
        actions = {
            "pause": lambda body: c.pause(sid),
            "resume": lambda body: c.resume(sid),
            "cancel": lambda body: c.cancel(sid),
            "flatten": lambda body: c.flatten(sid, body.get("instrument") or None),
        }
        if action not in actions:
            return web.json_response({"error": f"unknown control {action!r} (known: {', '.join(actions)})"},
                                     status=404)
        return await self._control(request, actions[action])

    async def _cancel_all(self, request: web.Request) -> web.Response:
        return await self._control(request, lambda body: self.controls.cancel_all())

    async def _kill_switch(self, request: web.Request) -> web.Response:
        return await self._control(
            request, lambda body: self.controls.kill(bool(body.get("on", True)), body.get("reason") or None)
        )
