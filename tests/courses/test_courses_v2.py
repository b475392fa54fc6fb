"""Course files for v2: aliases, lab kinds with no task graphs yet, the node limit."""

import json
import math
from pathlib import Path
from typing import Any

import pytest

from courses import (
    MAX_NODES,
    Catalog,
    CourseError,
    bundled_catalog,
    course_from_mapping,
    load_directory,
    load_legacy_directory,
)
from tests.courses.test_courses_legacy import write_legacy
from tests.courses.test_courses_validation import assert_field, base, edit, load_error

TRUSS = ["decrease_load", "increase_load", "change_load", "reset", "tare_gauges", "tare_load"]
TRUSS_NODES = (*TRUSS, "record")
TORSION_NODES = ("decrease_load", "increase_load", "change_load", "home", "tare", "record")


def no_tasks(data: dict[str, Any]) -> None:
    data["tasks"] = {}
    data["centroid_keys"] = {}
    data["full_task"] = None


# --- Aliases -------------------------------------------------------------------------


def test_engdes1_courses_answer_to_ed1_and_v1_lookups_do_not():
    catalog = bundled_catalog()
    for exp in ("spinner", "pendulum"):
        course = catalog.course(exp, "engdes1")
        assert course is not None
        assert course.aliases == ("ed1",)
        assert catalog.resolve(exp, "ed1") is course
        assert catalog.resolve(exp, "engdes1") is course
        # v1 keeps exact codes: a v1 request for "ed1" is still an unknown course.
        assert catalog.course(exp, "ed1") is None
        assert catalog.find_graph(f"{exp}-ed1-2") is None
    assert catalog.resolve("spinner", "cie3") is catalog.course("spinner", "cie3")
    assert catalog.resolve("pendulum", "cie3") is None


def test_an_alias_is_an_id_without_dash(tmp_path):
    message = load_error(tmp_path, edit(lambda d: d.__setitem__("aliases", ["c-3"])))
    assert_field(message, "aliases[0]", "contains '-'")
    message = load_error(tmp_path, edit(lambda d: d.__setitem__("aliases", [""])))
    assert_field(message, "aliases[0]", "non-empty string")
    message = load_error(tmp_path, edit(lambda d: d.__setitem__("aliases", "c3")))
    assert_field(message, "aliases", "must be a list")


def test_an_alias_is_not_the_course_code_nor_given_twice(tmp_path):
    message = load_error(tmp_path, edit(lambda d: d.__setitem__("aliases", ["cie3"])))
    assert_field(message, "aliases[0]", "'cie3' is already a code of this course")
    message = load_error(tmp_path, edit(lambda d: d.__setitem__("aliases", ["c3", "c3"])))
    assert_field(message, "aliases[1]", "'c3' is already a code")


def courses_with_aliases(*codes_and_aliases: tuple[str, list[str]]) -> Catalog:
    courses = []
    for code, aliases in codes_and_aliases:
        data = base()
        data["course"] = code
        data["aliases"] = aliases
        data["feedback_subjects"] = ["Other"]
        courses.append(course_from_mapping(data, source=f"{code}.json"))
    return Catalog.of(courses)


def test_an_alias_names_one_course_of_its_exp():
    with pytest.raises(CourseError, match=r"aliases: 'x' already names course 'spinner-a'"):
        courses_with_aliases(("a", ["x"]), ("b", ["x"]))
    with pytest.raises(CourseError, match=r"aliases: 'a' already names course 'spinner-a'"):
        courses_with_aliases(("a", []), ("b", ["a"]))
    catalog = courses_with_aliases(("a", ["x", "y"]), ("b", ["z"]))
    assert catalog.resolve("spinner", "y") is catalog.course("spinner", "a")
    assert catalog.resolve("spinner", "z") is catalog.course("spinner", "b")


def test_a_legacy_directory_keeps_the_aliases_of_its_reference_course(tmp_path):
    course = bundled_catalog().course("spinner", "engdes1")
    assert course is not None
    write_legacy(tmp_path, course)
    loaded = load_legacy_directory(tmp_path)
    assert loaded.resolve("spinner", "ed1") == course


# --- Courses with no task graphs ---------------------------------------------------------


def test_truss_and_torsion_load_with_their_nodes_and_no_tasks():
    catalog = bundled_catalog()
    truss = catalog.course("truss", "ed1")
    torsion = catalog.course("torsion", "ed1")
    assert truss is not None
    assert torsion is not None
    assert truss.nodes == TRUSS_NODES
    assert torsion.nodes == TORSION_NODES
    for course in (truss, torsion):
        assert dict(course.tasks) == {}
        assert course.full_task is None
        assert dict(course.centroid_keys) == {}
        assert course.stacked.shape == (0, len(course.nodes), len(course.nodes))
        assert not course.full_graph.any()
        assert course.full_graph.shape == (len(course.nodes),) * 2
        assert not course.full_graph.flags.writeable
        # The circle layout of the README: radius 200, first node at the top.
        assert course.positions[course.nodes[0]] == (0.0, 200.0)
        assert all(
            math.isclose(math.hypot(x, y), 200, rel_tol=1e-4) for x, y in course.positions.values()
        )


def test_truss_and_torsion_are_served_by_default():
    catalog = bundled_catalog()
    assert catalog.resolve("truss", "ed1") is not None
    assert catalog.resolve("torsion", "ed1") is not None


def test_no_tasks_means_full_task_null(tmp_path):
    path = tmp_path / "spinner-cie3.json"
    path.write_text(json.dumps(edit(no_tasks)), encoding="utf-8")
    course = load_directory(tmp_path).course("spinner", "cie3")
    assert course is not None
    assert course.full_task is None

    def named_full_task(data: dict[str, Any]) -> None:
        no_tasks(data)
        data["full_task"] = "all"

    message = load_error(tmp_path, edit(named_full_task))
    assert_field(message, "full_task", "must be null: the course has no task graphs")
    message = load_error(tmp_path, edit(lambda d: d.__setitem__("full_task", None)))
    assert_field(message, "full_task", "must be a non-empty string")


def test_a_course_without_tasks_has_no_centroid_keys(tmp_path):
    def keeps_keys(data: dict[str, Any]) -> None:
        no_tasks(data)
        data["centroid_keys"] = {"all": "all"}

    message = load_error(tmp_path, edit(keeps_keys))
    assert_field(message, "centroid_keys['all']", "'all' is not a task code")


def test_at_most_256_nodes(tmp_path: Path):
    def many_nodes(count: int) -> dict[str, Any]:
        nodes = [f"n{i}" for i in range(count)]
        data = base()
        no_tasks(data)
        data |= {
            "nodes": nodes,
            "log_to_command": {},
            "positions": {node: [0, 0] for node in nodes},
            "centroid_vertices": [],
        }
        return data

    assert len(course_from_mapping(many_nodes(MAX_NODES), source="x").nodes) == MAX_NODES
    message = load_error(tmp_path, many_nodes(MAX_NODES + 1))
    assert_field(message, "nodes", f"lists {MAX_NODES + 1} nodes, at most {MAX_NODES}")


# --- What v2 asks of a course ------------------------------------------------------------


def test_task_of_names_tasks_under_the_code_or_an_alias():
    course = bundled_catalog().course("spinner", "engdes1")
    assert course is not None
    assert course.task_of("spinner-ed1-1-core-ext") == "1-core-ext"
    assert course.task_of("spinner-engdes1-all") == "all"
    for name in ("spinner-ed1-", "spinner-ed1-9", "pendulum-ed1-2", "spinner-cie3-2", "ed1-2"):
        assert course.task_of(name) is None
    assert course.node_index["speed_step"] == course.nodes.index("speed_step")


def test_the_completion_threshold_is_a_share(tmp_path):
    data = edit(lambda d: d.__setitem__("completion_threshold", 0.5))
    assert course_from_mapping(data, source="x").completion_threshold == 0.5
    assert course_from_mapping(base(), source="x").completion_threshold is None  # the setting's
    for bad, words in ((0, "not a share in (0, 1]"), (1.5, "not a share"), ("hi", "a number")):
        message = load_error(
            tmp_path, edit(lambda d, v=bad: d.__setitem__("completion_threshold", v))
        )
        assert_field(message, "completion_threshold", words)
