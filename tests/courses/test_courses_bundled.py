"""The bundled course files carry exactly the figures of the reference ``courses.json``."""

import json
import shutil
from typing import Any

import numpy as np
import pytest

from courses import (
    Catalog,
    Vertex,
    bundled_catalog,
    bundled_directory,
    load_catalog,
    load_directory,
)
from tests.conftest import golden


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    return golden("courses")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return bundled_catalog()


def test_bundled_has_exactly_the_reference_courses(reference, catalog):
    expected = {(c["exp"], c["course"]) for c in reference["courses"]}
    # Plus the v2 lab kinds that have nodes and no task graphs yet (PROTOCOL-V2.md).
    assert set(catalog.courses) == expected | {("truss", "ed1"), ("torsion", "ed1")}
    assert len(expected) == 3


def test_bundled_figures_equal_the_reference(reference, catalog):
    common = reference["feedback_common_subjects"]
    for ref in reference["courses"]:
        course = catalog.course(ref["exp"], ref["course"])
        assert course is not None, (ref["exp"], ref["course"])
        assert course.key == f"{ref['exp']}-{ref['course']}"
        assert course.nodes == tuple(ref["nodes"])
        assert list(course.command_of.items()) == list(ref["log_to_command"].items())
        assert dict(course.positions) == {
            node: (xy["x"], xy["y"]) for node, xy in ref["vis_positions"].items()
        }
        assert course.centroid_vertices == tuple(
            Vertex(v["name"], v["x"], v["y"]) for v in ref["centroid_vertices"]
        )
        assert list(course.centroid_keys.items()) == list(ref["centroid_keys"].items())
        assert course.full_task == ref["full_task"]
        assert course.feedback_subjects == frozenset(common + ref["feedback_task_subjects"])
        assert list(course.tasks) == list(ref["comparison_graphs"])  # reply key order
        for task, matrix in ref["comparison_graphs"].items():
            assert np.array_equal(course.tasks[task], np.array(matrix, dtype=float)), task
        assert np.array_equal(course.full_graph, np.array(ref["comparison_graphs"]["all"]))


def test_course_data_is_read_only(catalog):
    course = catalog.course("spinner", "cie3")
    assert course is not None
    for matrix in course.tasks.values():
        assert matrix.dtype == np.float64
        assert not matrix.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            matrix[0, 0] = 1.0
    assert not course.stacked.flags.writeable
    with pytest.raises(TypeError):
        course.tasks["new"] = np.zeros((6, 6))  # type: ignore[index]
    with pytest.raises(TypeError):
        course.command_of["x"] = "y"  # type: ignore[index]
    with pytest.raises(TypeError):
        catalog.courses[("a", "b")] = course  # type: ignore[index]


def test_stacked_is_every_task_in_order(catalog):
    for course in catalog.courses.values():
        n = len(course.nodes)
        assert course.stacked.shape == (len(course.tasks), n, n)
        for layer, matrix in zip(course.stacked, course.tasks.values(), strict=True):
            assert np.array_equal(layer, matrix)
        assert course.stacked is course.stacked  # computed once


def test_find_graph_knows_every_graph_name(catalog):
    names = 0
    for course in catalog.courses.values():
        for task in course.tasks:
            found = catalog.find_graph(course.graph_name(task))
            assert found is not None
            assert found[0] is course
            assert found[1] == task
            names += 1
    assert names == 8 + 5 + 5


@pytest.mark.parametrize(
    ("name", "course", "task"),
    [
        ("spinner-cie3-1-2-3", "cie3", "1-2-3"),
        ("spinner-cie3-1-2", "cie3", "1-2"),
        ("spinner-cie3-mean-21-22", "cie3", "mean-21-22"),
        ("spinner-engdes1-1-core-ext", "engdes1", "1-core-ext"),
        ("spinner-cie3-all", "cie3", "all"),
    ],
)
def test_find_graph_with_dashes_in_task_code(catalog, name, course, task):
    found = catalog.find_graph(name)
    assert found is not None
    assert (found[0].course, found[1]) == (course, task)


@pytest.mark.parametrize(
    "name", ["", "spinner", "spinner-cie3", "spinner-cie3-", "spinner-cie3-5", "rotor-x-all"]
)
def test_find_graph_unknown_is_none(catalog, name):
    assert catalog.find_graph(name) is None


def test_course_lookup(catalog):
    assert catalog.course("pendulum", "engdes1") is not None
    assert catalog.course("pendulum", "cie3") is None


def test_load_catalog_none_is_bundled(catalog):
    assert load_catalog(None) == catalog
    assert load_catalog(bundled_directory()) == catalog


def test_new_course_file_appears_without_code(tmp_path, catalog):
    directory = tmp_path / "graphs"
    shutil.copytree(bundled_directory(), directory)
    data = json.loads((directory / "spinner-cie3.json").read_text(encoding="utf-8"))
    data["course"] = "cie4"
    data["tasks"]["5-extra"] = [[1] * 6 for _ in range(6)]
    data["centroid_keys"] = {"task5": "5-extra", "all": "all"}
    (directory / "spinner-cie4.json").write_text(json.dumps(data), encoding="utf-8")

    loaded = load_directory(directory)
    assert len(loaded.courses) == len(catalog.courses) + 1
    new = loaded.course("spinner", "cie4")
    assert new is not None
    assert list(new.tasks)[-1] == "5-extra"
    assert loaded.find_graph("spinner-cie4-5-extra") == (new, "5-extra")
    assert np.array_equal(new.tasks["5-extra"], np.ones((6, 6)))
    assert dict(new.centroid_keys) == {"task5": "5-extra", "all": "all"}
    for key, course in catalog.courses.items():
        assert loaded.courses[key] == course
    assert load_catalog(directory) == loaded
