"""A base for plain data classes on the hot path.

dataclasses generate code with exec() when a module is imported: about
1 ms per class, paid on every CLI call.  Our records spell out __init__
and get equality and repr from here.
"""
from __future__ import annotations


class Record:
    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
