"""The emulated gateway's door: the gateway name, `x-gateway-secret` and the auth token.

Every API call (`/gateway/...`, `/v1/...`) needs the gateway name in its path, the api secret in
`x-gateway-secret`, and in `x-gateway-authtoken` an HS256 token signed with the gateway secret,
unexpired on the emulator's clock, carrying `exp` and either `guest: true` or a smallcaseAuthId the
gateway knows. Refusals: 401 `invalid_gateway`, `invalid_gateway_secret`, `invalid_jwt`,
`user_mismatch`. The emulator's control endpoints (`/emulator/...`) need the api secret only;
the SDK step's pages (`/sdk/...`) need nothing, as the user's browser has no secret.

smallcase publishes no rate limits, so the gate applies none (the shared fault knobs can still
answer 429).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiohttp import web

from adapters.smallcase import schemas as w
from adapters.smallcase.auth import SECRET_HEADER, TOKEN_HEADER
from engine.venue import jwt

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLAIMS_KEY = web.RequestKey("claims", dict)  # the verified auth token's payload
API_PREFIXES = ("/gateway/", "/v1/")


def failure(status: int, *names: str) -> web.Response:
    return web.json_response({"success": False, "errors": list(names), "data": None}, status=status)


def success(data: Any) -> web.Response:
    body = w.encode({"success": True, "errors": None, "data": data})
    return web.Response(body=body, content_type="application/json")


class Gate:
    """Checks every request's credentials before a handler sees it."""

    def __init__(self, gateway_name: str, secret: str, api_secret: str, *, now_ns: Callable[[], int], users: Collection[str]) -> None:
        self.gateway_name = gateway_name
        self.secret = secret
        self.api_secret = api_secret
        self._now_ns = now_ns
        self._users = users  # the smallcaseAuthIds the gateway knows
        self.latest_exp_s = 0.0  # the latest `exp` of a token accepted (a test lets them all lapse)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/emulator/"):
            if request.headers.get(SECRET_HEADER) != self.api_secret:
                return failure(401, "invalid_gateway_secret")
            return await handler(request)
        if not request.path.startswith(API_PREFIXES):
            return await handler(request)
        if request.match_info.get("gateway") != self.gateway_name:
            return failure(401, "invalid_gateway")
        if request.headers.get(SECRET_HEADER) != self.api_secret:
            return failure(401, "invalid_gateway_secret")
        claims = self.claims(request.headers.get(TOKEN_HEADER, ""))
        if isinstance(claims, web.Response):
            return claims
        request[CLAIMS_KEY] = claims
        return await handler(request)

    def claims(self, token: str) -> dict[str, Any] | web.Response:
        """The payload of a valid auth token, or the refusal."""
        try:
            claims = jwt.decode(token, self.secret, now_s=self._now_ns() / 1e9)
        except jwt.JwtError:
            return failure(401, "invalid_jwt")
        if not isinstance(claims.get("exp"), (int, float)):
            return failure(401, "invalid_jwt")
        auth_id = claims.get("smallcaseAuthId")
        if auth_id is None and claims.get("guest") is not True:
            return failure(401, "invalid_jwt")
        if auth_id is not None and auth_id not in self._users:
            return failure(401, "user_mismatch")
        self.latest_exp_s = max(self.latest_exp_s, float(claims["exp"]))
        return claims
