"""One trading pair's order book kept from a snapshot and GOPAX's `OrderBookEvent` deltas.

GOPAX's rule: per price, the entry with the larger (updatedAt, entryId) wins; volume 0 deletes.
Entry ids come from one exchange-wide counter, so a lost delta cannot be seen as a hole in the ids;
it shows as a symptom instead: a deletion of a level the book never had, or a crossed book. Either
makes `apply` return False and the book must be loaded again from a fresh snapshot.

A socket snapshot names the counter's value it was taken at (`maxEntryId`); deltas at or below it
are in it already. `GET /book`'s `sequence` is not trusted to be on the socket's scale (nothing
documents that it is, and a foreign larger number would silently freeze the book): a REST
snapshot's floor is the largest entry id it holds. The deltas held meanwhile with ids between that
and the true counter can only be deletions made before the snapshot (any surviving entry would be
in it with its id), so while replaying them a deletion of an absent level is taken as already done.
`sequence` is only compared, and a disagreement counted in `sequence_mismatches`.
"""

from __future__ import annotations

from bisect import bisect_left, insort

from adapters.gopax.schemas import Book, BookEntry
from engine.venue.values import BadValue


class LocalBook:
    """Levels by price (the latest entry each), with prices kept sorted best first."""

    __slots__ = (
        "ask_prices",
        "asks",
        "bid_prices",
        "bids",
        "floor",
        "generation",
        "instrument",
        "pair",
        "pending",
        "quoted",
        "sequence_mismatches",
        "subscription",
        "synced",
    )

    def __init__(self, pair: str, instrument: str = "") -> None:
        self.pair = pair
        self.instrument = instrument or pair
        self.bids: dict[float, BookEntry] = {}
        self.asks: dict[float, BookEntry] = {}
        self.bid_prices: list[float] = []  # negated, ascending: the best bid first
        self.ask_prices: list[float] = []  # ascending: the best ask first
        self.floor = 0  # entries with an id at or below it are in the snapshot already
        self.synced = False
        self.pending: list[tuple[list[BookEntry], list[BookEntry]]] = []  # deltas held while unsynced
        self.generation = 0  # bumped by every load, so a late resync can tell it was overtaken
        self.quoted = (0.0, 0.0, 0.0, 0.0)  # the top last published: (bid, bid size, ask, ask size)
        self.sequence_mismatches = 0  # REST snapshots whose `sequence` was missing or below their largest entry id
        self.subscription = ""  # the feed's subscription key that carries this book

    # --- loading ------------------------------------------------------------------------------

    def load(self, asks: list[BookEntry], bids: list[BookEntry], max_entry_id: int | None, *, lenient_replay: bool = False) -> bool:
        """Replace the book with a snapshot, then replay the deltas held meanwhile (with
        `lenient_replay`, a held deletion of an absent level is taken as done before the snapshot)."""
        self.asks = {e.price: e for e in asks if e.volume > 0}
        self.bids = {e.price: e for e in bids if e.volume > 0}
        self.ask_prices = sorted(self.asks)
        self.bid_prices = sorted(-p for p in self.bids)
        ids = [e.entryId for e in asks] + [e.entryId for e in bids]
        self.floor = max_entry_id if max_entry_id is not None else max(ids, default=0)
        self.generation += 1
        held, self.pending = self.pending, []
        self.synced = True
        return all(self.apply(held_asks, held_bids, lenient=lenient_replay) for held_asks, held_bids in held)

    def load_rest(self, book: Book, venue: str = "gopax") -> bool:
        """Load GET /book (ids and millisecond times as strings): its floor is its largest entry id.
        `BadValue` (nothing changed) for a level whose id or time is not a number."""
        try:
            asks = [BookEntry(int(i), px, vol, int(ms) / 1000) for i, px, vol, ms in book.ask]
            bids = [BookEntry(int(i), px, vol, int(ms) / 1000) for i, px, vol, ms in book.bid]
        except (ValueError, OverflowError):
            raise BadValue(venue, f"GET /book of {self.pair}: a level whose id or time is not a number") from None
        largest = max((e.entryId for e in (*asks, *bids)), default=0)
        if book.sequence is None or book.sequence < largest:
            self.sequence_mismatches += 1
        return self.load(asks, bids, largest, lenient_replay=True)

    def unsync(self) -> None:
        """Hold deltas until the next snapshot (after a gap, or while reconnecting)."""
        self.synced = False

    def hold(self, asks: list[BookEntry], bids: list[BookEntry], limit: int = 10_000) -> bool:
        """Keep a delta for replay after the snapshot; False once too many are held."""
        if len(self.pending) >= limit:
            self.pending.clear()
            return False
        self.pending.append((asks, bids))
        return True

    # --- deltas -------------------------------------------------------------------------------

    def apply(self, asks: list[BookEntry], bids: list[BookEntry], *, lenient: bool = False) -> bool:
        """Apply one delta; False when it shows the book has drifted from the venue's."""
        if asks and not _apply_side(self.asks, self.ask_prices, asks, 1.0, self.floor, lenient):
            return False
        if bids and not _apply_side(self.bids, self.bid_prices, bids, -1.0, self.floor, lenient):
            return False
        return not (self.bid_prices and self.ask_prices and -self.bid_prices[0] >= self.ask_prices[0])

    # --- reading ------------------------------------------------------------------------------

    def top(self) -> tuple[float, float, float, float]:
        """(bid, bid size, ask, ask size); zeros for an empty side."""
        bid = bid_size = ask = ask_size = 0.0
        if self.bid_prices:
            bid = -self.bid_prices[0]
            bid_size = self.bids[bid].volume
        if self.ask_prices:
            ask = self.ask_prices[0]
            ask_size = self.asks[ask].volume
        return bid, bid_size, ask, ask_size

    def levels(self, depth: int) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
        """The best `depth` levels a side as (price, size): bids descending, asks ascending."""
        bids = tuple((-p, self.bids[-p].volume) for p in self.bid_prices[:depth])
        asks = tuple((p, self.asks[p].volume) for p in self.ask_prices[:depth])
        return bids, asks


def _apply_side(
    levels: dict[float, BookEntry], prices: list[float], entries: list[BookEntry], sign: float, floor: int, lenient: bool
) -> bool:
    for e in entries:
        if e.entryId <= floor:
            continue  # the snapshot already has it
        px = e.price
        old = levels.get(px)
        if old is not None and (old.updatedAt > e.updatedAt or (old.updatedAt == e.updatedAt and old.entryId >= e.entryId)):
            continue  # older than what the book holds
        if e.volume == 0:
            if old is None:
                if lenient:
                    continue  # replayed after a REST snapshot: deleted before it was taken
                return False  # deleting a level we never saw: a delta was lost
            del levels[px]
            del prices[bisect_left(prices, sign * px)]
        else:
            if old is None:
                insort(prices, sign * px)
            levels[px] = e
    return True
