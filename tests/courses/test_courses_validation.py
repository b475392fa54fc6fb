"""Each validation rule of a course file, and that its error names the file and the field."""

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from courses import (
    Catalog,
    CourseError,
    bundled_directory,
    course_from_mapping,
    load_catalog,
    load_course_file,
    load_directory,
    parse_course_json,
)

BASE = bundled_directory() / "spinner-cie3.json"


def base() -> dict[str, Any]:
    return json.loads(BASE.read_text(encoding="utf-8"))


def load_error(tmp_path: Path, data: dict[str, Any] | str, name: str = "spinner-cie3.json") -> str:
    """Write ``data`` as a course file, load it, and return the error message."""
    path = tmp_path / name
    text = data if isinstance(data, str) else json.dumps(data)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CourseError) as caught:
        load_course_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message


def assert_field(message: str, field: str, *words: str) -> None:
    assert f": {field}: " in message, message
    for word in words:
        assert word in message, message


def edit(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = base()
    change(data)
    return data


def test_base_file_is_valid(tmp_path):
    shutil.copy(BASE, tmp_path / BASE.name)
    assert load_course_file(tmp_path / BASE.name).key == "spinner-cie3"


def test_non_square_matrix(tmp_path):
    data = edit(lambda d: d["tasks"]["3"].pop())
    assert_field(load_error(tmp_path, data), "tasks['3']", "has 5 rows, expected 6")


def test_wrong_row_length(tmp_path):
    data = edit(lambda d: d["tasks"]["3"][2].pop())
    message = load_error(tmp_path, data)
    assert_field(message, "tasks['3']", "row 2 (position_step) has 5 entries, expected 6")


def test_negative_count(tmp_path):
    data = edit(lambda d: d["tasks"]["all"][1].__setitem__(4, -1))
    message = load_error(tmp_path, data)
    assert_field(message, "tasks['all']", "row 1 (voltage_ramp)", "column 4 (speed_step)", "-1")
    assert "negative" in message


def test_nan_count(tmp_path):
    data = edit(lambda d: d["tasks"]["4"][0].__setitem__(0, float("nan")))
    message = load_error(tmp_path, data)  # json.dumps writes NaN, which json.loads accepts
    assert_field(message, "tasks['4']", "row 0 (voltage_step)", "not a finite number")


def test_infinite_count(tmp_path):
    data = edit(lambda d: d["tasks"]["4"][0].__setitem__(0, float("inf")))
    assert_field(load_error(tmp_path, data), "tasks['4']", "not a finite number")


def test_boolean_is_not_a_count(tmp_path):
    data = edit(lambda d: d["tasks"]["4"][0].__setitem__(0, True))
    assert_field(load_error(tmp_path, data), "tasks['4']", "True")


def test_unknown_node_in_log_to_command(tmp_path):
    data = edit(lambda d: d["log_to_command"].__setitem__("torque", "torque_step"))
    message = load_error(tmp_path, data)
    assert_field(message, "log_to_command['torque']", "'torque_step' is not one of the nodes")


def test_missing_position(tmp_path):
    data = edit(lambda d: d["positions"].pop("speed_ramp"))
    assert_field(load_error(tmp_path, data), "positions", "missing", "'speed_ramp'")


def test_position_of_unknown_node(tmp_path):
    data = edit(lambda d: d["positions"].__setitem__("torque", [0, 0]))
    assert_field(load_error(tmp_path, data), "positions['torque']", "not one of the nodes")


def test_vertex_of_unknown_node(tmp_path):
    data = edit(lambda d: d["centroid_vertices"][2].__setitem__("name", "torque"))
    assert_field(load_error(tmp_path, data), "centroid_vertices[2].name", "'torque'")


def test_duplicate_task_code_via_duplicate_json_keys(tmp_path):
    text = BASE.read_text(encoding="utf-8")
    assert text.count('"4": [') == 1
    text = text.replace('"4": [', '"3": [')  # now "3" is a key of "tasks" twice
    message = load_error(tmp_path, text)
    assert_field(message, "tasks", "task code '3' is given twice")


def test_duplicate_key_anywhere_is_refused(tmp_path):
    text = BASE.read_text(encoding="utf-8").replace(
        '"course": "cie3"', '"course": "cie3", "course": "cie3"'
    )
    assert_field(load_error(tmp_path, text), "(top level)", "'course' is given twice")


def test_full_task_not_a_task(tmp_path):
    data = edit(lambda d: d.__setitem__("full_task", "everything"))
    assert_field(load_error(tmp_path, data), "full_task", "'everything' is not a task code")


def test_centroid_key_not_a_task(tmp_path):
    data = edit(lambda d: d["centroid_keys"].__setitem__("task9", "9"))
    assert_field(load_error(tmp_path, data), "centroid_keys['task9']", "'9' is not a task code")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("course", "ci/e3", "path separator"),
        ("exp", "spin\\ner", "path separator"),
        ("course", "cie-3", "contains '-'"),
        ("exp", "", "non-empty"),
        ("course", "cie\n3", "unprintable"),
    ],
)
def test_bad_course_id(tmp_path, field, value, problem):
    data = edit(lambda d: d.__setitem__(field, value))
    assert_field(load_error(tmp_path, data), field, problem)


def test_bad_task_code_with_slash(tmp_path):
    data = edit(lambda d: d["tasks"].__setitem__("../4", d["tasks"]["4"]))
    assert_field(load_error(tmp_path, data), "tasks['../4']", "path separator")


def test_duplicate_node(tmp_path):
    data = edit(lambda d: d["nodes"].__setitem__(5, "voltage_step"))
    assert_field(load_error(tmp_path, data), "nodes[5]", "listed twice")


def test_missing_field(tmp_path):
    data = edit(lambda d: d.pop("centroid_keys"))
    assert_field(load_error(tmp_path, data), "centroid_keys", "is missing")


def test_unknown_field(tmp_path):
    data = edit(lambda d: d.__setitem__("full_tsk", "all"))
    assert_field(load_error(tmp_path, data), "full_tsk", "not a course field")


def test_wrong_type(tmp_path):
    data = edit(lambda d: d.__setitem__("tasks", [1, 2]))
    assert_field(load_error(tmp_path, data), "tasks", "must be an object")


def test_duplicate_feedback_subject(tmp_path):
    data = edit(lambda d: d["feedback_subjects"].append("UI"))
    assert_field(load_error(tmp_path, data), "feedback_subjects[9]", "'UI' is listed twice")


def test_file_name_must_match(tmp_path):
    message = load_error(tmp_path, base(), name="spinner-cie4.json")
    assert_field(message, "exp/course", "'spinner-cie3.json'")


def test_invalid_json(tmp_path):
    message = load_error(tmp_path, '{"exp": "spinner",')
    assert_field(message, "(file)", "not valid JSON", "line 1")


def test_course_from_mapping_names_its_source():
    data = edit(lambda d: d["tasks"]["3"][2].pop())
    with pytest.raises(CourseError, match=re.escape("somewhere: tasks['3']: row 2")):
        course_from_mapping(data, source="somewhere")
    with pytest.raises(CourseError, match=re.escape("text: (course): must be an object")):
        course_from_mapping([], source="text")  # type: ignore[arg-type]


def test_parse_course_json_round_trip():
    course = parse_course_json(BASE.read_text(encoding="utf-8"), source="x")
    assert course.graph_name("1-2") == "spinner-cie3-1-2"


def test_duplicate_course_in_a_directory(tmp_path):
    shutil.copy(BASE, tmp_path / "spinner-cie3.json")
    shutil.copy(BASE, tmp_path / "spinner-cie3-copy.json")
    with pytest.raises(CourseError) as caught:
        load_directory(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'spinner-cie3.json'}: exp/course: "), message
    assert f"already defined by {tmp_path / 'spinner-cie3-copy.json'}" in message


def test_catalog_refuses_duplicate_course():
    course = parse_course_json(BASE.read_text(encoding="utf-8"), source="x")
    with pytest.raises(CourseError, match=r"b\.json: exp/course: .* already defined by a\.json"):
        Catalog.of([course, course], sources=["a.json", "b.json"])
    with pytest.raises(CourseError, match=r"catalog: courses\[\('x', 'y'\)\]"):
        Catalog({("x", "y"): course})


def test_empty_directory(tmp_path):
    with pytest.raises(CourseError, match=re.escape(f"{tmp_path}: (directory): ")):
        load_directory(tmp_path)
    with pytest.raises(CourseError, match=re.escape(f"{tmp_path}: (directory): ")):
        load_catalog(tmp_path)


def test_catalog_path_must_be_a_directory(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(CourseError, match=re.escape(f"{missing}: (directory): is not a dir")):
        load_catalog(missing)
