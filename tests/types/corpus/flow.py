"""Generators stream their yield type; async functions are typed like plain ones."""
from collections.abc import AsyncIterator, Generator, Iterable, Iterator
from typing import AsyncGenerator


def tokens(prompt: str) -> Iterator[str]:
    yield prompt


def numbers(n: int) -> Generator[int, None, str]:
    yield n
    return "done"


def rows() -> Iterable[dict[str, float]]:
    yield {}


async def fetch(url: str) -> bytes: ...


async def chunks(size: int) -> AsyncIterator[bytes]:
    yield b""


async def events() -> AsyncGenerator[tuple[str, int], None]:
    yield ("a", 1)


def untyped_generator(n):
    for i in range(n):
        yield i


def returns_lambda_with_yield_inside() -> int:
    def inner():
        yield 1

    return 1
