"""``Page``: one page of a list, as every list is read and answered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")
U = TypeVar("U")


class Page(BaseModel, Generic[T]):
    """Every list answers this shape: the items of one page and where it sits in the whole."""

    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, items: list[Any], *, total: int, limit: int, offset: int) -> Page[Any]:
        """A page of records already validated (the store's rows): built without re-validation."""
        return cls.model_construct(items=items, total=total, limit=limit, offset=offset)

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (a domain record to its HTTP shape)."""
        items = [convert(item) for item in self.items]
        return Page[U].model_construct(
            items=items, total=self.total, limit=self.limit, offset=self.offset
        )
