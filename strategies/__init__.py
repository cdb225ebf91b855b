"""What a strategy author imports: `from strategies import Strategy` (plus the event types)."""

from engine.events import Bar, BookSnapshot, Fill, Order, OrderStatus, Position, Quote, Side, Trade
from engine.strategy.base import NoParams, Strategy

__all__ = [
    "Bar", "BookSnapshot", "Fill", "NoParams", "Order", "OrderStatus", "Position", "Quote", "Side",
    "Strategy", "Trade",
]
