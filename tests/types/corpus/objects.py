"""TypedDict, dataclasses and NamedTuple become named object types; aliases are expanded."""
from dataclasses import dataclass, field
from enum import Enum, IntEnum, auto
from typing import ClassVar, NamedTuple, NewType, NotRequired, TypedDict

Vector = list[float]
UserId = NewType("UserId", int)


class Point(NamedTuple):
    x: float
    y: float = 0.0


class Options(TypedDict, total=False):
    temperature: float
    stop: list[str]


class Request(TypedDict):
    prompt: str
    options: Options
    seed: NotRequired[int]


@dataclass
class Result:
    text: str
    tokens: int = 0
    scores: Vector = field(default_factory=list)
    version: ClassVar[str] = "1"


@dataclass(frozen=True)
class Node:
    label: str
    children: list["Node"]


def embed(v: Vector) -> Vector: ...
def user(uid: UserId) -> UserId: ...
def centroid(points: list[Point]) -> Point: ...
def complete(request: Request) -> Result: ...
def tree(depth: int) -> Node: ...


class Color(str, Enum):
    RED = "red"
    BLUE = "blue"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Shape(Enum):
    SQUARE = auto()


def paint(color: Color, level: Level) -> Color: ...
def shape(s: Shape) -> Shape: ...
