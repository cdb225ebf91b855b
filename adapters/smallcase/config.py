"""The smallcase Gateway venue's config: the gateway block of a run and its postback receiver."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from engine.venue.contract import VenueConfig

Positive = msgspec.Meta(gt=0)
NonNegative = msgspec.Meta(ge=0)


class PostbackConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The postback receiver the engine serves (off unless `enabled`)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    path: str = "/smallcase/postback"
    scheme: Literal["field", "header"] = "field"
    header: str = "x-gateway-checksum"
    remember: Annotated[int, Positive] = 10_000
    max_age_s: Annotated[float, Positive] = 600.0  # an older postback is refused as stale (409)
    # Where the adapter announces its URL on the gateway (the emulator's /emulator/postback); the
    # real gateway has no such endpoint: the URL is registered with smallcase's team.
    register_path: str | None = None


class SmallcaseConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    """A smallcase Gateway block; `secret` and `api_secret` belong in ${VAR}s."""

    secret_fields: ClassVar[tuple[str, ...]] = ("secret", "api_secret")

    gateway_name: str = ""
    secret: str = ""  # signs the users' JWTs
    api_secret: str = ""  # x-gateway-secret, and the postback checksum key
    url: str = "https://gatewayapi.smallcase.com"
    # smallcase's SDK flag: the user's session goes to a virtual broker account. Against the real
    # gateway the user still completes every transaction in the SDK (the link is logged).
    leprechaun: bool = False
    # A connected user's smallcaseAuthId (returned after their first broker login); a guest token
    # without it. Emulator only: its virtual accounts are named by test token, and the token is
    # taken as the smallcaseAuthId (emulator.market.ACCOUNTS).
    auth_id: str | None = None
    token_ttl_s: Annotated[float, Positive] = 120.0
    transaction_ttl_s: Annotated[float, Positive] = 300.0
    # how long an unused transaction that expired here is still read (a late completion is seen)
    expiry_grace_s: Annotated[float, NonNegative] = 300.0
    # COMPLETED views that do not list an order before it is ended by its batch's word
    unlisted_polls: Annotated[int, msgspec.Meta(ge=1)] = 3
    linger_ms: Annotated[float, NonNegative] = 50.0
    poll_interval_s: Annotated[float, Positive] = 1.0
    idle_poll_interval_s: Annotated[float, Positive] = 5.0
    postback: PostbackConfig = msgspec.field(default_factory=PostbackConfig)
    # Where the user completes a transaction: your page that opens smallcase's SDK with it.
    link_template: str = "https://gateway.smallcase.com/{gateway}/transaction/{transaction_id}"
    timeout_s: Annotated[float, Positive] = 10.0
    read_retries: Annotated[int, NonNegative] = 3  # a read answered 429/5xx or cut is sent again this often
    last_look_timeout_s: Annotated[float, Positive] = 5.0  # the last read of the followed transactions at close
    # emulator only: how long its leprechaun user takes once the SDK link is opened, and when its
    # leprechaun accounts' market is open (smallcase sets those hours; default the NSE calendar)
    emulator_complete_delay_s: Annotated[float, NonNegative] = 0.3
    emulator_leprechaun_hours: Literal["nse", "open", "closed"] = "nse"

    def __post_init__(self) -> None:  # checked when the config loads: one line, exit 2
        try:
            fill_link(self.link_template, gateway="g", transaction_id="t", url="u")
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"link_template {self.link_template!r} cannot be filled ({exc!r}); "
                "it may use {gateway}, {transaction_id} and {url}"
            ) from None


def fill_link(template: str, *, gateway: str, transaction_id: str, url: str) -> str:
    """The link where the user completes a transaction, from `link_template`."""
    return template.format(gateway=gateway, transaction_id=transaction_id, url=url)
