"""The buyer's cart, kept in the signed session cookie: batch id -> quantity. No account needed."""

from __future__ import annotations

from flask import session

from shop.orders.schemas import CartLine

CART_KEY = "cart"
MAX_LINES = 30


def lines() -> list[CartLine]:
    raw = session.get(CART_KEY) or {}
    result = []
    for batch_id, quantity in raw.items():
        try:
            result.append(CartLine(batch_id=int(batch_id), quantity=int(quantity)))
        except (ValueError, TypeError):
            continue
    return result


def add(batch_id: int, quantity: int) -> None:
    raw = dict(session.get(CART_KEY) or {})
    if str(batch_id) not in raw and len(raw) >= MAX_LINES:
        return
    raw[str(batch_id)] = min(int(raw.get(str(batch_id), 0)) + quantity, 1000)
    session[CART_KEY] = raw


def set_quantity(batch_id: int, quantity: int) -> None:
    raw = dict(session.get(CART_KEY) or {})
    if quantity <= 0:
        raw.pop(str(batch_id), None)
    else:
        raw[str(batch_id)] = min(quantity, 1000)
    session[CART_KEY] = raw


def clear() -> None:
    session.pop(CART_KEY, None)
