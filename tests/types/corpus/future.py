"""Postponed annotations and forward references: nothing is evaluated, so both just work."""
from __future__ import annotations

import typing as t
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


def later(item: Item) -> list[Item]: ...
def quoted(x: "t.Optional[t.List[int]]") -> "dict[str, Item]": ...
def checking_only(at: datetime) -> datetime | None: ...


class Item(t.TypedDict):
    name: str
    parent: Item | None
