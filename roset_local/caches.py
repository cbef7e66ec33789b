"""Small thread-safe containers a Services instance owns: a least-recently-used cache and a registry."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


def _one(_: object) -> int:
    return 1


class LruCache(Generic[K, V]):
    """Recently used values; the least recently used go once the total weight passes ``limit``.

    ``weigh`` gives a value's weight: 1 by default (``limit`` counts entries), ``len`` to bound bytes.
    """

    def __init__(self, limit: int, weigh: Callable[[V], int] = _one) -> None:
        self.limit = limit
        self._weigh = weigh
        self._data: OrderedDict[K, V] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._weight -= self._weigh(old)
            self._data[key] = value
            self._weight += self._weigh(value)
            while self._weight > self.limit and self._data:
                _, dropped = self._data.popitem(last=False)
                self._weight -= self._weigh(dropped)

    def __len__(self) -> int:
        return len(self._data)


class Registry:
    """Per-process objects by name (e.g. one in-memory index per vector table), each made once.

    Hold ``lock`` to create-if-missing atomically. A lookup names the class it expects, so the
    caller gets a typed object without this module knowing the classes it holds.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._items: dict[str, object] = {}

    def get(self, kind: type[T], name: str) -> T | None:
        with self.lock:
            item = self._items.get(name)
        if item is None:
            return None
        if not isinstance(item, kind):
            raise TypeError(f"{name!r} holds a {type(item).__name__}, not a {kind.__name__}")
        return item

    def get_or_create(self, kind: type[T], name: str, create: Callable[[], T]) -> tuple[T, bool]:
        """The object for ``name`` and whether this call created it."""
        with self.lock:
            item = self.get(kind, name)
            if item is not None:
                return item, False
            made = self._items[name] = create()
            return made, True

    def __contains__(self, name: object) -> bool:
        with self.lock:
            return name in self._items
