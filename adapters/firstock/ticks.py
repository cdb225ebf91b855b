"""The Firstock V2 socket's wire Structs: subscribe frames out; ticks (prices in paise), Noren-style
order updates (`norenordno`) and control frames in."""

from __future__ import annotations

import msgspec
from msgspec import Struct


class Level(Struct, gc=False):
    price: int = 0  # paise
    quantity: int = 0
    orders: int = 0


class Tick(Struct, gc=False):
    """A market tick; prices are integers in paise, times epoch seconds."""

    c_symbol: str = ""  # the token
    c_exch_seg: str = ""
    i_last_traded_price: int = 0
    i_open_price: int = 0
    i_high_price: int = 0
    i_low_price: int = 0
    i_closing_price: int = 0
    i_average_trade_price: int = 0
    i_last_trade_quantity: int = 0
    i_last_trade_time: int = 0
    i_volume_traded_today: int = 0
    i_total_buy_quantity: int = 0
    i_total_sell_quantity: int = 0
    i_total_open_interest: int = 0
    i_upper_circuit_limit: int = 0
    i_lower_circuit_limit: int = 0
    i_feed_time: int = 0
    best_buy: list[Level] = []
    best_sell: list[Level] = []


class OrderUpdate(Struct, kw_only=True, gc=False):
    """A Noren-style order update, recognised by `norenordno`; every value a string."""

    norenordno: str
    uid: str = ""
    actid: str = ""
    exch: str = ""
    tsym: str = ""
    token: str = ""
    trantype: str = ""
    qty: str = ""
    prc: str = ""
    trgprc: str = ""
    prd: str = ""
    prctyp: str = ""
    ret: str = ""
    status: str = ""
    reporttype: str = ""
    fillshares: str = ""
    avgprc: str = ""
    flqty: str = ""
    flprc: str = ""
    flid: str = ""
    fltm: str = ""
    rejreason: str = ""
    remarks: str = ""
    exchordid: str = ""
    norentm: str = ""
    exch_tm: str = ""


class Control(Struct):
    status: str = ""
    message: str = ""


class StreamRequest(Struct):
    action: str  # subscribe | unsubscribe | subscribe-option-greeks | unsubscribe-option-greeks
    tokens: str  # "NSE:2885|NSE:26000"



decode_tick = msgspec.json.Decoder(Tick).decode
decode_wrapped_ticks = msgspec.json.Decoder(dict[str, Tick]).decode
decode_order_update = msgspec.json.Decoder(OrderUpdate).decode
decode_control = msgspec.json.Decoder(Control).decode
