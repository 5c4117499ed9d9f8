import abc
import typing
from typing import Protocol, overload


class Sized(Protocol):
    def size(self) -> int: ...

    def name(self) -> str:
        """The name."""

    def real(self) -> int:
        return 1


class Base(abc.ABC):
    @abc.abstractmethod
    def size(self) -> int:
        ...


@overload
def pick(x: int) -> int: ...
@typing.overload
def pick(x: str) -> str: ...
def pick(x):
    return x
print("stubs", pick(1), pick("a"))
