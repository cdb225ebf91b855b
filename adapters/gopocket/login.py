"""`python run.py login gopocket CONFIG`: the vendor SSO from the command line.

Serves the config's `redirect_url` on 127.0.0.1 (it must be a loopback http URL with a port: the
URL registered for the vendor app), prints the login link (`<login_url>?appcode=<app_code>`),
waits for the browser to come back with `authCode` and `userId`, exchanges the checksum for the
session and stores it in the session file (0600). Neither the auth code nor the session is printed
or logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web
from yarl import URL

from adapters.gopocket.auth import GopocketSession, SessionStore
from adapters.gopocket.client import GopocketClient
from adapters.gopocket.config import GopocketConfig
from engine.errors import UserError
from engine.log import register_secret

LOOPBACK = ("127.0.0.1", "localhost")
DONE_PAGE = "<html><body><p>GoPocket login received; you can close this page.</p></body></html>"


def login_link(config: GopocketConfig) -> str:
    base = config.login_url if config.login_url.endswith("/") else config.login_url + "/"
    return f"{base}?{urlencode({'appcode': config.app_code})}"


async def serve_redirect(redirect_url: str) -> tuple[web.AppRunner, asyncio.Future[tuple[str, str]]]:
    """Serve the redirect URL (listening when this returns); the future is (authCode, userId)."""
    url = URL(redirect_url)
    if url.scheme != "http" or url.host not in LOOPBACK or not url.explicit_port:
        raise UserError(f"redirect_url must be http://127.0.0.1:PORT/... (the vendor app's registered one), got {redirect_url}")
    got: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()

    async def callback(request: web.Request) -> web.Response:
        code = request.query.get("authCode") or request.query.get("authcode") or ""
        user = request.query.get("userId") or request.query.get("userid") or ""
        if not code or not user:
            return web.Response(text="authCode and userId missing", status=400)
        register_secret(code)
        if not got.done():
            got.set_result((code, user))
        return web.Response(text=DONE_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get(url.path or "/", callback)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", url.port).start()
    except OSError as exc:
        await runner.cleanup()
        raise UserError(f"cannot serve the redirect URL on 127.0.0.1:{url.port}: {exc.strerror}") from None
    return runner, got


async def sso_login(
    config: GopocketConfig, path: Path, *, config_file: str, say: Callable[[str], None], timeout_s: float = 300.0,
) -> Path:
    if not config.app_code or not config.api_secret:
        raise UserError(f"{config_file}: app_code and api_secret are needed (GOPOCKET_APP_CODE, GOPOCKET_API_SECRET)")
    runner, got = await serve_redirect(config.redirect_url)
    try:
        say(f"open this link and log in to GoPocket: {login_link(config)}")
        say(f"waiting for the redirect to {config.redirect_url} ...")
        auth_code, user_id = await asyncio.wait_for(got, timeout_s)
    except TimeoutError:
        raise UserError(f"no login came back to {config.redirect_url} within {timeout_s:g}s") from None
    finally:
        await asyncio.sleep(0.05)  # the browser's page goes out before the server closes
        await runner.cleanup()
    if config.user_id and user_id.upper() != config.user_id.upper():
        raise UserError(f"logged in as {user_id}, but the config's user_id is {config.user_id}")
    client = GopocketClient("gopocket", config.url, user_id=user_id, api_prefix=config.api_prefix,
                            session_path=config.session_path, timeout_s=config.timeout_s, rate_limits=config.rate_limits)
    client.auth = GopocketSession("gopocket", client.exchange, user_id=user_id, api_secret=config.api_secret,
                                  store=SessionStore(path), config_file=config_file)
    await client.start()
    try:
        await client.auth.exchange_code(auth_code)
        profile = await client.profile()
    finally:
        await client.close()
    name = profile[0].clientName if profile else user_id
    say(f"logged in as {user_id} ({name}); session stored in {path} (mode 0600)")
    return path
