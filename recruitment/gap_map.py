"""Layout of a chain's gap map: stages and "feeds" edges to SVG coordinates. Pure, no database.

Chains are graphs, not lists (the long-chain polyamide chain has one stage feeding
three), so the map is drawn as a layered graph flowing left to right:

1. **Layers.** A stage's layer is the length of the longest path of edges leading to
   it, so every edge points rightwards. Stages are taken in topological order, ties
   broken by their ``order`` then code; if the data ever holds a cycle, the earliest
   remaining stage is taken anyway and its edges from unplaced stages are ignored, so
   a bad edge cannot hang the page. A chain without any edge falls back to its
   ``order`` (one layer per distinct order), a readable guess for a half-entered chain.
2. **Rows.** Within a layer, stages sit at the mean row of the stages feeding them
   (the barycentre heuristic), which keeps edges short and mostly uncrossed.
3. **Coordinates.** Layers become columns of fixed-size boxes, each column centred
   vertically; edges are cubic Béziers from the right side of the upstream box to the
   left side of the downstream one.

The server renders the result as SVG: no JavaScript library, nothing from a CDN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar


class HasOffice(Protocol):
    @property
    def office_id(self) -> int: ...


P = TypeVar("P", bound=HasOffice)

# Geometry, in SVG user units (≈ CSS px at 100% width).
NODE_WIDTH = 142
NODE_HEIGHT = 96
LAYER_GAP = 32
ROW_GAP = 20
MARGIN = 14


@dataclass(frozen=True)
class StageInput:
    code: str
    order: int = 0


@dataclass(frozen=True)
class MapNode:
    code: str
    layer: int
    row: int
    x: float
    y: float
    width: float
    height: float

    @property
    def centre_x(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class MapEdge:
    upstream: str
    downstream: str
    path: str  # SVG path data


@dataclass(frozen=True)
class MapLayout:
    width: float
    height: float
    nodes: dict[str, MapNode]
    edges: list[MapEdge]


def _layers(stages: Sequence[StageInput], edges: Sequence[tuple[str, str]]) -> tuple[dict[str, int], list[str]]:
    """Longest-path layer of every stage, and the order in which stages were placed."""
    rank = {s.code: (s.order, s.code) for s in stages}
    if not edges:
        orders = sorted({s.order for s in stages})
        layer_of_order = {order: i for i, order in enumerate(orders)}
        placed = sorted(rank, key=rank.__getitem__)
        return {s.code: layer_of_order[s.order] for s in stages}, placed
    preds: dict[str, list[str]] = {code: [] for code in rank}
    succs: dict[str, list[str]] = {code: [] for code in rank}
    for up, down in edges:
        succs[up].append(down)
        preds[down].append(up)
    indegree = {code: len(preds[code]) for code in rank}
    layer: dict[str, int] = {}
    placed: list[str] = []
    remaining = set(rank)
    while remaining:
        ready = [code for code in remaining if indegree[code] == 0]
        # A cycle leaves nothing ready: break it at the earliest stage.
        code = min(ready or remaining, key=rank.__getitem__)
        remaining.discard(code)
        layer[code] = max((layer[p] + 1 for p in preds[code] if p in layer), default=0)
        placed.append(code)
        for down in succs[code]:
            indegree[down] -= 1
    return layer, placed


def _rows(
    layer: Mapping[str, int], placed: Sequence[str], edges: Sequence[tuple[str, str]], rank: Mapping[str, tuple]
) -> dict[int, list[str]]:
    """Stages of each layer, top to bottom, by the barycentre of their upstream stages."""
    preds: dict[str, list[str]] = {code: [] for code in layer}
    for up, down in edges:
        preds[down].append(up)
    columns: dict[int, list[str]] = {}
    for code in placed:
        columns.setdefault(layer[code], []).append(code)
    position: dict[str, float] = {}
    for index in sorted(columns):
        column = columns[index]

        def key(code: str) -> tuple[float, tuple]:
            known = [position[p] for p in preds[code] if p in position]
            return (sum(known) / len(known) if known else float("inf"), rank[code])

        column.sort(key=key)
        # Centre the column so its rows line up with the rows of the tallest one.
        for row, code in enumerate(column):
            position[code] = row - (len(column) - 1) / 2
    return columns


def layout_chain(
    stages: Iterable[StageInput],
    feeds: Mapping[str, Iterable[str]],
    *,
    node_width: float = NODE_WIDTH,
    node_height: float = NODE_HEIGHT,
    layer_gap: float = LAYER_GAP,
    row_gap: float = ROW_GAP,
    margin: float = MARGIN,
) -> MapLayout:
    """Coordinates for ``stages`` with ``feeds`` (stage code → downstream stage codes).

    Edges to stages not in ``stages``, duplicates and self-loops are dropped.
    """
    stage_list = sorted({s.code: s for s in stages}.values(), key=lambda s: (s.order, s.code))
    codes = {s.code for s in stage_list}
    edges: list[tuple[str, str]] = []
    for up in (s.code for s in stage_list):
        for down in feeds.get(up, ()):
            if down in codes and down != up and (up, down) not in edges:
                edges.append((up, down))
    if not stage_list:
        return MapLayout(width=2 * margin, height=2 * margin, nodes={}, edges=[])
    rank = {s.code: (s.order, s.code) for s in stage_list}
    layer, placed = _layers(stage_list, edges)
    columns = _rows(layer, placed, edges, rank)
    tallest = max(len(column) for column in columns.values())
    pitch_y = node_height + row_gap
    nodes: dict[str, MapNode] = {}
    for index, column in columns.items():
        top = margin + (tallest - len(column)) * pitch_y / 2
        for row, code in enumerate(column):
            nodes[code] = MapNode(
                code=code,
                layer=index,
                row=row,
                x=margin + index * (node_width + layer_gap),
                y=top + row * pitch_y,
                width=node_width,
                height=node_height,
            )
    layer_count = max(columns) + 1
    width = 2 * margin + layer_count * node_width + (layer_count - 1) * layer_gap
    height = 2 * margin + tallest * node_height + (tallest - 1) * row_gap
    return MapLayout(width=width, height=height, nodes=nodes, edges=[_edge(nodes[u], nodes[d]) for u, d in edges])


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _edge(up: MapNode, down: MapNode) -> MapEdge:
    x1, y1 = up.x + up.width, up.y + up.height / 2
    x2, y2 = down.x, down.y + down.height / 2
    if x2 <= x1:
        # Only a broken cycle can point backwards: loop under the boxes so it stays visible.
        below = max(up.y + up.height, down.y + down.height) + ROW_GAP / 2
        path = (
            f"M{_fmt(x1)},{_fmt(y1)} C{_fmt(x1 + 30)},{_fmt(below)} {_fmt(x2 - 30)},{_fmt(below)} {_fmt(x2)},{_fmt(y2)}"
        )
    else:
        bend = (x2 - x1) / 2
        path = (
            f"M{_fmt(x1)},{_fmt(y1)} C{_fmt(x1 + bend)},{_fmt(y1)} {_fmt(x2 - bend)},{_fmt(y2)} {_fmt(x2)},{_fmt(y2)}"
        )
    return MapEdge(upstream=up.code, downstream=down.code, path=path)


def wrap_label(text: str, *, width: int, lines: int = 2) -> list[str]:
    """``text`` cut into at most ``lines`` lines of about ``width`` characters (SVG text
    does not wrap). Words stay whole where possible; an overflow ends in "…".

    Chinese has no spaces, so a word longer than a line is cut where it must be. Width
    counts a CJK character as two, as it is about twice as wide as a Latin letter.
    """

    def cells(s: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)

    def cut(s: str, room: int) -> tuple[str, str]:
        used = 0
        for i, ch in enumerate(s):
            used += 2 if ord(ch) > 0x2E80 else 1
            if used > room:
                return s[:i], s[i:]
        return s, ""

    words = text.split()
    result: list[str] = []
    current = ""
    while words:
        word = words[0]
        candidate = f"{current} {word}" if current else word
        if cells(candidate) <= width:
            current = candidate
            words.pop(0)
            continue
        if current:
            result.append(current)
            current = ""
        else:
            head, tail = cut(word, width)
            result.append(head)
            words[0] = tail
        if len(result) == lines:
            break
    if current and len(result) < lines:
        result.append(current)
        current = ""
    if (words or current) and result:
        last, _rest = cut(result[-1], width - 1)
        result[-1] = last.rstrip() + "…"
    return result


# --- What a stage box says ----------------------------------------------------------

COVERED = "covered"
WEAK = "weak"
MISSING = "missing"
FILLING = "filling"


def display_status(status: str, *, being_filled: bool) -> str:
    """The colour of a stage box: covered stays covered; a weak or missing stage with a
    signed-or-later project targeting it shows as being filled (补链进行中)."""
    if status == COVERED:
        return COVERED
    if being_filled:
        return FILLING
    return status


def split_by_office(projects: Sequence[P], *, office_id: int | None, sees_everything: bool) -> tuple[list[P], int]:
    """Projects whose titles the viewer may read, and how many others there are.

    Gap analysis is shared by every office, but project titles are office records:
    park and partner staff see the titles of their own office's projects and only a
    count of the others (so they know a stage is being worked on without learning by whom).
    """
    if sees_everything:
        return list(projects), 0
    shown = [p for p in projects if office_id is not None and p.office_id == office_id]
    return shown, len(projects) - len(shown)
