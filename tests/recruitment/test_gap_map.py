"""Layout of the chain gap map: pure functions, no database."""

from __future__ import annotations

from dataclasses import dataclass

from recruitment.gap_map import (
    MARGIN,
    NODE_HEIGHT,
    NODE_WIDTH,
    ROW_GAP,
    StageInput,
    display_status,
    layout_chain,
    split_by_office,
    wrap_label,
)


def linear(*codes: str) -> tuple[list[StageInput], dict[str, list[str]]]:
    stages = [StageInput(code, order) for order, code in enumerate(codes)]
    feeds = {a: [b] for a, b in zip(codes, codes[1:], strict=False)}
    return stages, feeds


def test_a_linear_chain_is_one_row_flowing_left_to_right() -> None:
    stages, feeds = linear("acrylonitrile", "precursor", "fibre", "prepreg", "parts", "end-products")

    layout = layout_chain(stages, feeds)

    assert [layout.nodes[s.code].layer for s in stages] == [0, 1, 2, 3, 4, 5]
    assert len({node.y for node in layout.nodes.values()}) == 1
    xs = [layout.nodes[s.code].x for s in stages]
    assert xs == sorted(xs)
    assert len(layout.edges) == 5
    assert layout.width == xs[-1] + NODE_WIDTH + MARGIN


def test_a_stage_feeding_three_puts_them_in_one_column_centred_on_it() -> None:
    stages = [
        StageInput("alkane", 1),
        StageInput("acid", 2),
        StageInput("polyamide", 3),
        StageInput("nylon", 4),
        StageInput("fibre", 5),
        StageInput("clothing", 6),
    ]
    feeds = {"alkane": ["acid"], "acid": ["polyamide"], "polyamide": ["nylon", "fibre", "clothing"]}

    layout = layout_chain(stages, feeds)
    n = layout.nodes

    assert n["nylon"].layer == n["fibre"].layer == n["clothing"].layer == 3
    assert n["nylon"].x == n["fibre"].x == n["clothing"].x
    assert [n[c].row for c in ("nylon", "fibre", "clothing")] == [0, 1, 2]  # by stage order
    # The single stages upstream sit level with the middle of the three.
    assert n["polyamide"].y == n["fibre"].y == n["alkane"].y
    assert layout.height == 2 * MARGIN + 3 * NODE_HEIGHT + 2 * ROW_GAP
    assert {(e.upstream, e.downstream) for e in layout.edges} >= {("polyamide", "nylon"), ("polyamide", "clothing")}


def test_layer_is_the_longest_path_so_every_edge_points_right() -> None:
    stages = [StageInput("a", 0), StageInput("b", 1), StageInput("c", 2), StageInput("d", 3)]
    feeds = {"a": ["b", "d"], "b": ["c"], "c": ["d"]}  # a shortcut a → d

    layout = layout_chain(stages, feeds)

    assert layout.nodes["d"].layer == 3
    for edge in layout.edges:
        assert layout.nodes[edge.downstream].x > layout.nodes[edge.upstream].x


def test_stage_order_does_not_override_the_edges() -> None:
    # Entered with the wrong order numbers: the edges still decide the layers.
    stages = [StageInput("end", 0), StageInput("start", 9)]

    layout = layout_chain(stages, {"start": ["end"]})

    assert layout.nodes["start"].layer == 0
    assert layout.nodes["end"].layer == 1


def test_barycentre_keeps_branches_apart() -> None:
    stages = [StageInput(c, i) for i, c in enumerate(["root", "top", "bottom", "top-next", "bottom-next"])]
    # The downstream stages' own order would swap them; their parents' rows keep them straight.
    stages[3] = StageInput("top-next", 9)
    feeds = {"root": ["top", "bottom"], "top": ["top-next"], "bottom": ["bottom-next"]}

    layout = layout_chain(stages, feeds)
    n = layout.nodes

    assert n["top"].row == 0 and n["bottom"].row == 1
    assert n["top-next"].row == 0 and n["bottom-next"].row == 1


def test_a_cycle_does_not_hang_and_every_stage_is_placed() -> None:
    stages = [StageInput("a", 0), StageInput("b", 1), StageInput("c", 2)]

    layout = layout_chain(stages, {"a": ["b"], "b": ["c"], "c": ["a"]})

    assert set(layout.nodes) == {"a", "b", "c"}
    assert layout.nodes["a"].layer == 0 and layout.nodes["c"].layer == 2
    assert len(layout.edges) == 3  # the back edge is still drawn


def test_a_chain_without_edges_falls_back_to_stage_order() -> None:
    stages = [StageInput("x", 1), StageInput("y", 2), StageInput("z", 2)]

    layout = layout_chain(stages, {})

    assert layout.nodes["x"].layer == 0
    assert layout.nodes["y"].layer == layout.nodes["z"].layer == 1
    assert layout.edges == []


def test_unknown_duplicate_and_self_edges_are_dropped() -> None:
    stages = [StageInput("a", 0), StageInput("b", 1)]

    layout = layout_chain(stages, {"a": ["b", "b", "elsewhere", "a"]})

    assert [(e.upstream, e.downstream) for e in layout.edges] == [("a", "b")]


def test_an_empty_chain_has_an_empty_layout() -> None:
    layout = layout_chain([], {})

    assert layout.nodes == {} and layout.edges == []


def test_edges_run_from_the_right_side_of_upstream_to_the_left_side_of_downstream() -> None:
    stages, feeds = linear("a", "b")

    layout = layout_chain(stages, feeds)
    [edge] = layout.edges
    a, b = layout.nodes["a"], layout.nodes["b"]

    assert edge.path.startswith(f"M{a.x + a.width:g},{a.y + a.height / 2:g} C")
    assert edge.path.endswith(f"{b.x:g},{b.y + b.height / 2:g}")


def test_wrap_label_keeps_words_whole_and_marks_an_overflow() -> None:
    assert wrap_label("High-performance carbon fibre", width=20) == ["High-performance", "carbon fibre"]
    assert wrap_label("Polyacrylonitrile precursor filament for spinning", width=20) == [
        "Polyacrylonitrile",
        "precursor filament…",
    ]
    assert wrap_label("Short", width=20) == ["Short"]
    assert wrap_label("", width=20) == []


def test_wrap_label_counts_chinese_characters_as_double_width() -> None:
    assert wrap_label("聚丙烯腈原丝", width=12) == ["聚丙烯腈原丝"]
    assert wrap_label("工业丝、民用丝及其他纺织品", width=12, lines=2) == ["工业丝、民用", "丝及其他纺…"]


def test_display_status_shows_signed_projects_filling_a_gap() -> None:
    assert display_status("missing", being_filled=True) == "filling"
    assert display_status("weak", being_filled=True) == "filling"
    assert display_status("covered", being_filled=True) == "covered"
    assert display_status("missing", being_filled=False) == "missing"


@dataclass(frozen=True)
class Ref:
    title: str
    office_id: int


def test_split_by_office_shows_own_titles_and_counts_the_rest() -> None:
    projects = [Ref("ours", 1), Ref("theirs", 2), Ref("also theirs", 3)]

    assert split_by_office(projects, office_id=1, sees_everything=False) == ([Ref("ours", 1)], 2)
    assert split_by_office(projects, office_id=None, sees_everything=False) == ([], 3)
    assert split_by_office(projects, office_id=1, sees_everything=True) == (projects, 0)
