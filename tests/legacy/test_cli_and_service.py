"""The import command end to end, and a running service answering imported users."""

from __future__ import annotations

import logging
import shutil

import pytest

from cli.main import main
from courses import Catalog
from store import SqliteStore
from tests.actors.conftest import client, request, running_service, service_settings
from tests.legacy.conftest import Legacy, expected_counter


def count_events(data) -> int:
    with SqliteStore(data) as store:
        return store.count_events()


def test_the_command_imports_once_and_a_rerun_changes_nothing(
    legacy: Legacy, tmp_path, capsys
) -> None:
    data = tmp_path / "store"
    assert main(["import-legacy", str(legacy.directory), "--data", str(data)]) == 0
    first = count_events(data)
    out = capsys.readouterr()
    assert first > 0
    assert "imported" in out.out
    assert "[1/" in out.err  # one progress line per user
    assert main(["import-legacy", str(legacy.directory), "--data", str(data)]) == 0
    assert count_events(data) == first


async def test_an_imported_user_gets_the_old_services_answers(
    legacy: Legacy, catalog: Catalog, tmp_path
) -> None:
    data = tmp_path / "store"
    assert main(["import-legacy", str(legacy.directory), "--data", str(data)]) == 0
    async with running_service(service_settings(data)) as service, client(service) as dashboard:
        checked = 0
        for (user, exp, course_name), frames in legacy.frames.items():
            course = catalog.course(exp, course_name)
            if course is None:
                continue
            counter = expected_counter(
                course, frames, legacy.adjacency.get((user, exp, course_name))
            )
            [graph] = await dashboard.ask(
                request(user, "student_graph", exp=exp, course=course_name), 1
            )
            edges = {(e["from"], e["to"]): e["width"] for e in graph["edges"]}
            matrix = counter.matrix
            expected = {
                (course.nodes[i], course.nodes[j]): float(matrix[i, j])
                for i in range(len(course.nodes))
                for j in range(len(course.nodes))
                if matrix[i, j]
            }
            assert edges == expected, (user, exp, course_name)
            checked += 1
        assert checked >= 3


async def test_serve_says_once_that_legacy_files_wait_for_import(
    legacy: Legacy, tmp_path, caplog
) -> None:
    data = tmp_path / "shared-with-old-service"
    shutil.copytree(legacy.directory, data)
    with caplog.at_level(logging.WARNING, logger="actors.service"):
        async with running_service(service_settings(data)):
            pass
    hints = [r for r in caplog.records if r.getMessage() == "legacy.files_not_imported"]
    assert len(hints) == 1
    assert hints[0].files > 0
    assert f"import-legacy {data}" in hints[0].command

    assert main(["import-legacy", str(data), "--data", str(data)]) == 0
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="actors.service"):
        async with running_service(service_settings(data)):
            pass
    assert not [r for r in caplog.records if r.getMessage() == "legacy.files_not_imported"]


async def test_the_import_refuses_a_store_a_service_is_writing(
    legacy: Legacy, tmp_path, capsys
) -> None:
    data = tmp_path / "store"
    async with running_service(service_settings(data)):
        assert main(["import-legacy", str(legacy.directory), "--data", str(data)]) == 1
    assert "in use by another process" in capsys.readouterr().err
    assert count_events(data) == 0


@pytest.mark.parametrize("argv", [["import-legacy", "/nonexistent/dir"]])
def test_a_missing_directory_is_an_error_not_a_crash(argv, tmp_path, capsys) -> None:
    assert main([*argv, "--data", str(tmp_path / "store")]) == 1
    assert capsys.readouterr().err
