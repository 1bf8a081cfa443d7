"""The Python side of examples/quickstart.ts: plain functions, a class and a generator."""
import logging
import time
from typing import Iterator, TypedDict

log = logging.getLogger("quickstart")


class Summary(TypedDict):
    count: int
    mean: float
    max: float


def describe(values: list[float], scale: float = 1.0) -> Summary:
    """Summary statistics of a list of numbers, scaled."""
    scaled = [v * scale for v in values]
    return {"count": len(scaled), "mean": sum(scaled) / len(scaled), "max": max(scaled)}


class Embedder:
    """Stands in for a model: the constructor is slow (loading weights), calls are fast."""

    def __init__(self, dimensions: int):
        log.info("loading a %d-dimensional model...", dimensions)
        time.sleep(1.5)
        self.dimensions = dimensions
        self.calls = 0

    def embed(self, text: str) -> list[float]:
        self.calls += 1
        return [((hash(text) >> i) % 100) / 100 for i in range(self.dimensions)]


def countdown(n: int) -> Iterator[int]:
    """A generator: each value reaches the caller as soon as it is yielded."""
    for i in range(n, 0, -1):
        print(f"tick {i}")
        time.sleep(0.2)
        yield i


def divide(a: float, b: float) -> float:
    return a / b
