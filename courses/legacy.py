"""The old service's layout: a directory of ``{exp}-{course}-{task}.csv`` graphs.

Sites still point ``COMP_PATH`` at such a directory, so it must keep loading. The CSVs only
hold node order and task matrices; every other figure comes from a reference catalog, by
the rules of ``comparison_graphs/README.md`` ("Legacy CSV directories"). Parsing uses the
stdlib ``csv`` module because this runs inside the serving process, where pandas would
cost start-up time and memory for nothing.
"""

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from courses.files import bundled_catalog
from courses.model import Catalog, Course, CourseError
from courses.validation import course_from_mapping

# Subjects every course accepts feedback on, before its task subjects.
COMMON_FEEDBACK_SUBJECTS = ("Workbook", "Remote work", "Hardware", "UI", "LA", "Other")
# Drawing radius of derived positions; the bundled courses use the same circle.
DERIVED_RADIUS = 200.0
# A course of an unknown lab type must have a graph with this task code: the full graph.
DERIVED_FULL_TASK = "all"


@attrs.frozen
class LegacyGraph:
    """One CSV file: the task matrix of one course, rows = from, columns = to."""

    path: Path
    exp: str
    course: str
    task: str
    nodes: tuple[str, ...]
    rows: tuple[tuple[float, ...], ...]


def _split_name(path: Path) -> tuple[str, str, str]:
    # exp and course never contain '-', task codes may ("spinner-cie3-1-2-3.csv").
    parts = path.stem.split("-", 2)
    if len(parts) != 3 or not all(parts):
        raise CourseError(f"{path}: (file name): expected '<exp>-<course>-<task>.csv'")
    exp, course, task = parts
    return exp, course, task


def _entry(path: Path, line: int, node: str, cell: str) -> float:
    where = f"{path}: line {line}, column {node!r}"
    try:
        value = float(cell)
    except ValueError:
        raise CourseError(f"{where}: {cell!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise CourseError(f"{where}: {cell!r} is not a finite count >= 0")
    return value


def read_graph_csv(path: Path) -> LegacyGraph:
    """Parse one legacy graph: header = node names, first column = the same names."""
    exp, course, task = _split_name(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file)
            lines = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CourseError(f"{path}: (file): cannot read: {error}") from error
    if not lines:
        raise CourseError(f"{path}: header: the file is empty")
    nodes = tuple(cell.strip() for cell in lines[0][1][1:])  # cell 0 labels the index
    for i, node in enumerate(nodes):
        if not node or node in nodes[:i]:
            raise CourseError(f"{path}: header: node {node!r} is empty or repeated")
    index: list[str] = []
    rows: list[tuple[float, ...]] = []
    for line, row in lines[1:]:
        name = row[0].strip()
        if len(row) != len(nodes) + 1:
            raise CourseError(
                f"{path}: line {line}: row {name!r} has {len(row) - 1} values, "
                f"expected {len(nodes)} (one per header node)"
            )
        index.append(name)
        rows.append(tuple(_entry(path, line, nodes[j], cell) for j, cell in enumerate(row[1:])))
    if tuple(index) != nodes:
        raise CourseError(
            f"{path}: index: row names {index} differ from the header {list(nodes)}; "
            "rows and columns must name the same nodes in the same order"
        )
    return LegacyGraph(path, exp, course, task, nodes, tuple(rows))


def _circle(nodes: Sequence[str], radius: float) -> dict[str, list[float]]:
    """Nodes evenly on a circle, the first at the top, going clockwise."""
    n = len(nodes)
    return {
        node: [radius * math.sin(2 * math.pi * i / n), radius * math.cos(2 * math.pi * i / n)]
        for i, node in enumerate(nodes)
    }


def _figures_of(course: Course) -> dict[str, Any]:
    """The figures of a reference course, as the mapping ``course_from_mapping`` reads."""
    return {
        "log_to_command": dict(course.command_of),
        "positions": {node: list(xy) for node, xy in course.positions.items()},
        "centroid_vertices": [
            {"name": v.name, "x": v.x, "y": v.y} for v in course.centroid_vertices
        ],
    }


def _figures(
    exp: str, course: str, graphs: Sequence[LegacyGraph], reference: Catalog
) -> tuple[dict[str, Any], list[str]]:
    """Everything but nodes and matrices, by the three rules of the README, and the task
    order (the reference course's, else by name)."""
    first = graphs[0]
    nodes = first.nodes
    tasks = sorted(graph.task for graph in graphs)
    same = reference.course(exp, course)
    kin = same or next((c for c in reference.courses.values() if c.exp == exp), None)
    if kin is not None and set(kin.nodes) != set(nodes):
        raise CourseError(
            f"{first.path}: header: nodes {list(nodes)} are not those of reference course "
            f"{kin.key} {list(kin.nodes)}; write a JSON course file for this course"
        )
    if same is not None:
        order = {task: i for i, task in enumerate(same.tasks)}
        tasks.sort(key=lambda task: order.get(task, len(order)))  # stable: extras by name
        figures = {
            **_figures_of(same),
            "centroid_keys": dict(same.centroid_keys),
            "full_task": same.full_task,
            "feedback_subjects": sorted(same.feedback_subjects),
            "aliases": list(same.aliases),
            "completion_threshold": same.completion_threshold,
        }
        return figures, tasks
    if kin is not None:
        full = kin.full_task
        keys = {k: t for k, t in kin.centroid_keys.items() if t in tasks and t != full}
        figures = _figures_of(kin)
    else:
        full = DERIVED_FULL_TASK
        keys = {}
        figures = {
            "log_to_command": {node: node for node in nodes},
            "positions": _circle(nodes, DERIVED_RADIUS),
            "centroid_vertices": [
                {"name": node, "x": x, "y": y} for node, (x, y) in _circle(nodes, 1.0).items()
            ],
        }
    if full not in tasks:
        missing = first.path.with_name(f"{exp}-{course}-{full}.csv")
        raise CourseError(f"{missing}: full_task: missing; the full graph {full!r} is required")
    subjects = [f"{exp}-{course}-{task}" for task in tasks if task != full]
    figures |= {
        "centroid_keys": {**keys, "all": full},
        "full_task": full,
        "feedback_subjects": [*COMMON_FEEDBACK_SUBJECTS, *subjects],
    }
    return figures, tasks


def legacy_course(graphs: Sequence[LegacyGraph], *, reference: Catalog, directory: Path) -> Course:
    """One course from all its CSV graphs (same exp and course, at least one)."""
    first = graphs[0]
    exp, course = first.exp, first.course
    for graph in graphs[1:]:
        if graph.nodes != first.nodes:
            raise CourseError(
                f"{graph.path}: header: nodes {list(graph.nodes)} differ from "
                f"{first.path.name} {list(first.nodes)}; all graphs of a course need one order"
            )
    figures, order = _figures(exp, course, graphs, reference)
    matrices: Mapping[str, Any] = {graph.task: graph.rows for graph in graphs}
    data = {
        "exp": exp,
        "course": course,
        "nodes": list(first.nodes),
        **figures,
        "tasks": {task: matrices[task] for task in order},
    }
    return course_from_mapping(data, source=str(directory / f"{exp}-{course}-*.csv"))


def load_legacy_directory(path: Path, *, reference: Catalog | None = None) -> Catalog:
    """Load every ``*.csv`` graph of ``path``; figures come from ``reference`` (default:
    the bundled catalog)."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else []
    if not files:
        raise CourseError(f"{path}: (directory): holds no legacy *.csv graphs")
    if reference is None:
        reference = bundled_catalog()
    groups: dict[tuple[str, str], list[LegacyGraph]] = {}
    for file in files:
        graph = read_graph_csv(file)
        groups.setdefault((graph.exp, graph.course), []).append(graph)
    courses = [
        legacy_course(graphs, reference=reference, directory=path) for graphs in groups.values()
    ]
    return Catalog.of(courses, sources=[course.key for course in courses])
