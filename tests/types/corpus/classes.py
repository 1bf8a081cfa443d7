"""Classes: constructor and method signatures, inheritance, kinds of methods."""
import asyncio
from dataclasses import dataclass
from typing import Iterator, Optional

import torch


class Base:
    def __init__(self, name: str, *, device: str = "cpu"):
        self.name = name

    def describe(self) -> str: ...

    def reset(self) -> None: ...


class Model(Base):
    def generate(self, prompt: str, max_tokens: int = 16, *, temperature: float = 1.0) -> str: ...

    def stream(self, prompt: str) -> Iterator[str]:
        yield prompt

    async def warm(self) -> bool: ...

    def reset(self) -> Optional[int]: ...

    @staticmethod
    def version() -> str: ...

    @classmethod
    def build(cls, size: int) -> "Model": ...

    @property
    def ready(self) -> bool: ...

    def __repr__(self) -> str: ...


class Plain:
    def ping(self):
        return "pong"


class Net(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Counter:
    start: int = 0

    def add(self, n: int) -> int: ...
