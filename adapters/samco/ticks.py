"""The Samco streaming socket's wire Structs: subscribe frames out, quote and depth ticks in.

Every value is a string. A quote tick is flat (v3.2 docs: sym, ltp, bPr...) or inside
{"response": ...} (older docs, and depth ticks: symbol, bidValues...): `TickFrame` reads both.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from adapters.samco.schemas import encode


class SymbolRef(Struct):
    symbol: str


class StreamData(Struct):
    symbols: list[SymbolRef]


class StreamRequestBody(Struct):
    streaming_type: str
    data: StreamData
    request_type: str
    response_format: str = "json"


class StreamRequest(Struct):
    """A subscribe or unsubscribe frame; it goes out newline-terminated."""

    request: StreamRequestBody


class DepthValue(Struct, gc=False):
    no: str = ""
    qty: str = ""
    price: str = ""


class Tick(Struct, gc=False):
    """A quote tick (sym, ltp, bPr...) or a depth tick (symbol, bidValues...): all strings."""

    sym: str = ""
    symbol: str = ""
    streaming_type: str = ""
    ltp: str = ""
    ltq: str = ""
    lttUTC: str = ""
    vol: str = ""
    bPr: str = ""
    bSz: str = ""
    aPr: str = ""
    aSz: str = ""
    bidValues: list[DepthValue] = []
    askValues: list[DepthValue] = []


class TickResponse(Struct, gc=False):
    streaming_type: str = ""
    data: Tick | None = None
    status: str = ""  # "Failure" when the streamer refuses a request (the emulator's error frame)
    statusMessage: str = ""


class TickFrame(Tick, gc=False):
    """A frame as it arrives: the tick itself (flat) or the tick inside `response`."""

    response: TickResponse | None = None


decode_tick = msgspec.json.Decoder(TickFrame).decode


def stream_frame(streaming_type: str, request_type: str, symbols: list[str]) -> str:
    """One subscribe/unsubscribe frame, newline-terminated (the streamer buffers until "\\n")."""
    body = StreamRequestBody(streaming_type, StreamData([SymbolRef(s) for s in symbols]), request_type)
    return encode(StreamRequest(body)).decode() + "\n"

