"""A base for the stores that are context managers closing themselves on exit.

Examples
--------
>>> class Door(Closing):
...     def close(self) -> None:
...         print("closed")
>>> with Door():
...     pass
closed
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

__all__ = ["Closing"]


class Closing(ABC):
    """``with store: ...`` calls ``store.close()`` on the way out, error or not."""

    @abstractmethod
    def close(self) -> None:
        """Release the store's resources."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
