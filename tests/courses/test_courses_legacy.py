"""The legacy ``COMP_PATH`` layout (one CSV per graph) loads to the same courses."""

import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from courses import (
    COMMON_FEEDBACK_SUBJECTS,
    Catalog,
    Course,
    CourseError,
    bundled_catalog,
    course_from_mapping,
    load_catalog,
    load_legacy_directory,
    read_graph_csv,
)


def write_csv(directory: Path, name: str, nodes, matrix, *, cell=lambda v: repr(float(v))) -> Path:
    """One graph as the old service stored it (pandas ``to_csv`` with the index)."""
    lines = [",".join(["", *nodes])]
    lines += [",".join([node, *map(cell, row)]) for node, row in zip(nodes, matrix, strict=True)]
    path = directory / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_legacy(directory: Path, course: Course, *, exp=None, name=None, tasks=None) -> None:
    """Write the graphs of ``course`` (or only ``tasks``), optionally under another name."""
    key = f"{exp or course.exp}-{name or course.course}"
    for task in tasks or course.tasks:
        write_csv(directory, f"{key}-{task}.csv", course.nodes, course.tasks[task])


@pytest.fixture(scope="module")
def bundled() -> Catalog:
    return bundled_catalog()


def assert_same_course(loaded: Course, expected: Course) -> None:
    assert loaded.exp == expected.exp
    assert loaded.course == expected.course
    assert loaded.nodes == expected.nodes
    assert dict(loaded.command_of) == dict(expected.command_of)
    assert dict(loaded.positions) == dict(expected.positions)
    assert loaded.centroid_vertices == expected.centroid_vertices
    assert list(loaded.centroid_keys.items()) == list(expected.centroid_keys.items())
    assert loaded.full_task == expected.full_task
    assert loaded.feedback_subjects == expected.feedback_subjects
    assert list(loaded.tasks) == list(expected.tasks)
    for task in expected.tasks:
        assert np.array_equal(loaded.tasks[task], expected.tasks[task]), task
    assert np.array_equal(loaded.stacked, expected.stacked)
    assert loaded == expected


def test_legacy_directory_equals_bundled(tmp_path, bundled):
    # The CSV layout holds task graphs only: a course without any has no file.
    with_tasks = {key: course for key, course in bundled.courses.items() if course.tasks}
    for course in with_tasks.values():
        write_legacy(tmp_path, course)
    assert (tmp_path / "spinner-cie3-1-2-3.csv").is_file()
    loaded = load_legacy_directory(tmp_path)
    assert set(loaded.courses) == set(with_tasks)
    for key, course in with_tasks.items():
        assert_same_course(loaded.courses[key], course)
    for course in bundled.courses.values():
        for task in course.tasks:
            found = loaded.find_graph(course.graph_name(task))
            assert found is not None
            assert found[1] == task
    assert load_catalog(tmp_path) == loaded


def test_integer_cells_and_bom_are_read(tmp_path, bundled):
    course = bundled.course("pendulum", "engdes1")
    assert course is not None
    for task, matrix in course.tasks.items():
        name = f"pendulum-engdes1-{task}.csv"
        path = write_csv(tmp_path, name, course.nodes, matrix, cell=lambda v: str(int(v)))
        path.write_text("\ufeff" + path.read_text(encoding="utf-8"), encoding="utf-8")
    loaded = load_legacy_directory(tmp_path, reference=bundled)
    assert loaded.courses[("pendulum", "engdes1")] == course


def test_unknown_course_of_known_exp(tmp_path, bundled):
    cie3 = bundled.course("spinner", "cie3")
    assert cie3 is not None
    write_legacy(tmp_path, cie3, name="cie9", tasks=["all", "3", "1-2", "3-4"])
    loaded = load_legacy_directory(tmp_path, reference=bundled)
    course = loaded.course("spinner", "cie9")
    assert course is not None
    assert course.nodes == cie3.nodes
    assert course.command_of == cie3.command_of
    assert course.positions == cie3.positions
    assert course.centroid_vertices == cie3.centroid_vertices
    assert course.full_task == "all"
    assert list(course.tasks) == ["1-2", "3", "3-4", "all"]  # by name
    assert list(course.centroid_keys.items()) == [("task1", "1-2"), ("task3", "3"), ("all", "all")]
    assert course.feedback_subjects == {
        *COMMON_FEEDBACK_SUBJECTS,
        "spinner-cie9-1-2",
        "spinner-cie9-3",
        "spinner-cie9-3-4",
    }
    assert np.array_equal(course.tasks["3-4"], cie3.tasks["3-4"])
    assert loaded.find_graph("spinner-cie9-3-4") == (course, "3-4")


def test_unknown_exp_is_derived(tmp_path, bundled):
    nodes = ["up", "down", "left", "right"]
    full = [[0, 1, 0, 0], [2, 0, 1, 0], [0, 0, 3, 1], [1, 0, 0, 0]]
    write_csv(tmp_path, "rotor-x1-all.csv", nodes, full)
    write_csv(tmp_path, "rotor-x1-1-b.csv", nodes, [[0] * 4] * 4)
    course = load_legacy_directory(tmp_path, reference=bundled).course("rotor", "x1")
    assert course is not None
    assert course.nodes == tuple(nodes)
    assert dict(course.command_of) == {node: node for node in nodes}
    assert course.full_task == "all"
    assert list(course.tasks) == ["1-b", "all"]
    assert dict(course.centroid_keys) == {"all": "all"}
    assert course.feedback_subjects == {*COMMON_FEEDBACK_SUBJECTS, "rotor-x1-1-b"}
    assert np.array_equal(course.full_graph, np.array(full, dtype=float))
    for i, node in enumerate(nodes):
        x, y = course.positions[node]
        assert math.isclose(math.hypot(x, y), 200)
        vertex = course.centroid_vertices[i]
        assert vertex.name == node
        assert math.isclose(vertex.x * 200, x, abs_tol=1e-9)
        assert math.isclose(vertex.y * 200, y, abs_tol=1e-9)
    assert course.positions["up"] == (0.0, 200.0)


def test_unknown_exp_needs_the_full_graph(tmp_path, bundled):
    write_csv(tmp_path, "rotor-x1-1.csv", ["a", "b"], [[0, 1], [1, 0]])
    expected = f"{tmp_path / 'rotor-x1-all.csv'}: full_task: missing"
    with pytest.raises(CourseError, match=re.escape(expected)):
        load_legacy_directory(tmp_path, reference=bundled)


def test_known_exp_with_other_nodes_is_refused(tmp_path, bundled):
    path = write_csv(tmp_path, "spinner-cie9-all.csv", ["a", "b"], [[0, 1], [1, 0]])
    with pytest.raises(CourseError, match=re.escape(f"{path}: header: nodes ['a', 'b']")):
        load_legacy_directory(tmp_path, reference=bundled)


def test_csv_header_differs_from_index(tmp_path):
    path = tmp_path / "rotor-x1-all.csv"
    path.write_text(",a,b\na,0,1\nc,1,0\n", encoding="utf-8")
    with pytest.raises(CourseError) as caught:
        read_graph_csv(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: index: row names ['a', 'c'] differ from the header")


def test_csv_row_length(tmp_path):
    path = tmp_path / "rotor-x1-all.csv"
    path.write_text(",a,b\na,0,1\nb,1\n", encoding="utf-8")
    with pytest.raises(CourseError, match=re.escape(f"{path}: line 3: row 'b' has 1 values")):
        read_graph_csv(path)


@pytest.mark.parametrize(("cell", "problem"), [("x", "not a number"), ("-1", "count >= 0")])
def test_csv_bad_cell_names_line_and_column(tmp_path, cell, problem):
    path = tmp_path / "rotor-x1-all.csv"
    path.write_text(f",a,b\na,0,1\nb,1,{cell}\n", encoding="utf-8")
    expected = f"{path}: line 3, column 'b': '{cell}' is "
    with pytest.raises(CourseError, match=re.escape(expected) + ".*" + problem):
        read_graph_csv(path)


@pytest.mark.parametrize("name", ["spinner-cie3.csv", "spinner--all.csv"])
def test_csv_bad_file_name(tmp_path, name):
    path = write_csv(tmp_path, name, ["a"], [[0]])
    with pytest.raises(CourseError, match=re.escape(f"{path}: (file name): expected")):
        read_graph_csv(path)


def test_node_order_must_agree_within_a_course(tmp_path):
    write_csv(tmp_path, "rotor-x1-all.csv", ["a", "b"], [[0, 1], [1, 0]])
    other = write_csv(tmp_path, "rotor-x1-z.csv", ["b", "a"], [[0, 1], [1, 0]])
    with pytest.raises(CourseError, match=re.escape(f"{other}: header: nodes ['b', 'a']")):
        load_legacy_directory(tmp_path, reference=Catalog({}))


def test_directory_with_both_layouts_is_refused(tmp_path):
    write_csv(tmp_path, "rotor-x1-all.csv", ["a"], [[0]])
    (tmp_path / "rotor-x1.json").write_text("{}", encoding="utf-8")
    with pytest.raises(CourseError, match=re.escape(f"{tmp_path}: (directory): holds both")):
        load_catalog(tmp_path)


task_codes = st.text(alphabet="abc123-", min_size=1, max_size=6).filter(lambda code: code != "all")


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=5),
    codes=st.lists(task_codes, max_size=4, unique=True),
    data=st.data(),
)
def test_csv_round_trip_keeps_every_number(n, codes, data):
    nodes = [f"n{i}" for i in range(n)]
    counts = st.one_of(
        st.integers(min_value=0, max_value=10**6),
        st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    )
    matrix = st.lists(st.lists(counts, min_size=n, max_size=n), min_size=n, max_size=n)
    tasks = {code: data.draw(matrix) for code in ["all", *codes]}
    original = course_from_mapping(
        {
            "exp": "rotor",
            "course": "x1",
            "nodes": nodes,
            "log_to_command": {},
            "positions": {node: [i, -i] for i, node in enumerate(nodes)},
            "centroid_vertices": [],
            "centroid_keys": {},
            "full_task": "all",
            "feedback_subjects": [],
            "tasks": tasks,
        },
        source="generated",
    )
    with tempfile.TemporaryDirectory() as directory:
        write_legacy(Path(directory), original)
        loaded = load_legacy_directory(Path(directory), reference=Catalog.of([original]))
    assert loaded.courses[("rotor", "x1")] == original
