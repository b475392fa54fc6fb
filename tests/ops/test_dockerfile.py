"""The image, checked without a Docker engine.

(a) The Dockerfile's rules, read from its text: what an operator relies on
    (non-root, health check, clean stop, ports, the data volume) and what keeps
    the build reproducible (pinned bases, the lock, nothing fetched by ADD).
(b) The image's install and start steps replayed in a clean venv outside the
    repo: the same ``uv sync`` commands from the same files, the same entry
    point and environment, so a wheel that misses a package or the bundled
    courses fails here rather than on the lab's server.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import trio

from tests.actors.conftest import Client, event, request
from tests.ops.dockerfile_parser import (
    Dockerfile,
    Stage,
    context_files,
    env_of,
    is_excluded,
    parse_dockerfile,
    parse_dockerignore,
)
from websocket.client import open_client

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = "/var/analytics/data"
VENV = "/opt/venv"
UID = "10001"
RUNTIME_BASE = re.compile(r"python:3\.11(\.\d+)?-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?")


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runtime(dockerfile: Dockerfile) -> Stage:
    return dockerfile.stages[-1]


@pytest.fixture(scope="module")
def builder(dockerfile: Dockerfile) -> Stage:
    return dockerfile.stages[0]


def _command(stage: Stage) -> list[str]:
    """What the container runs: ENTRYPOINT + CMD, both required in exec form."""
    (entrypoint,) = stage.all("ENTRYPOINT") or [None]
    (cmd,) = stage.all("CMD")
    # Exec form: the service is the process that gets SIGTERM, not a /bin/sh.
    assert cmd.exec_form is not None, "CMD must use the exec form"
    if entrypoint is None:
        return cmd.exec_form
    assert entrypoint.exec_form is not None, "ENTRYPOINT must use the exec form"
    return entrypoint.exec_form + cmd.exec_form


# ------------------------------------------------------------ (a) rules ---


def test_the_parser_reads_continuations_flags_and_forms() -> None:
    parsed = parse_dockerfile(
        "# syntax=docker/dockerfile:1\n# a comment\nFROM python:3.11-slim AS b\n"
        "RUN --mount=type=cache,target=/c \\\n    echo a \\\n    # dropped\n    && echo b\n"
        'CMD ["x", "y"]\nENV A=1 \\\n    B="two words"\n'
    )
    assert parsed.directives == {"syntax": "docker/dockerfile:1"}
    run = parsed.all("RUN")[0]
    assert (run.line, run.flags, run.arguments) == (
        4,
        {"mount": "type=cache,target=/c"},
        "echo a && echo b",
    )
    assert parsed.all("CMD")[0].exec_form == ["x", "y"]
    assert env_of(parsed.stages[0]) == {"A": "1", "B": "two words"}
    assert parsed.stages[0].name == "b"
    with pytest.raises(ValueError, match="heredoc"):
        parse_dockerfile("FROM a:1\nRUN <<EOF\necho\nEOF\n")


def test_multi_stage_with_pinned_slim_python(dockerfile: Dockerfile, runtime: Stage) -> None:
    assert len(dockerfile.stages) >= 2
    for stage in dockerfile.stages:
        image = stage.image
        if image in {s.name for s in dockerfile.stages}:
            continue  # FROM an earlier stage
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name, image
        assert tag, f"{image}: pin a tag"
        assert tag != "latest", f"{image}: never latest"
    assert RUNTIME_BASE.fullmatch(runtime.image), runtime.image
    # The venv is copied between stages: its interpreter links need the same Python.
    assert dockerfile.stages[0].image == runtime.image


def test_no_latest_and_nothing_fetched_by_add(dockerfile: Dockerfile) -> None:
    for instruction in dockerfile.instructions:
        assert not re.search(r":latest\b", instruction.arguments), instruction
    for add in dockerfile.all("ADD"):
        assert not re.search(r"\b(https?|git)://|git@", add.arguments), add


def test_builder_installs_the_locked_project_with_uv(builder: Stage) -> None:
    runs = [run.arguments for run in builder.all("RUN")]
    uv_install = [run for run in runs if re.search(r"pip install\b.*\buv\b", run)]
    assert uv_install, "install uv with pip"
    (spec,) = re.findall(r"[\"']?(uv[<>=!~][^\"' ]+)[\"']?", uv_install[0])
    assert ">=" in spec, f"pin a range for uv: {spec}"
    assert "<" in spec.replace("<=", ""), f"pin a range for uv: {spec}"
    syncs = [run for run in runs if run.startswith("uv sync")]
    assert syncs, "install with uv sync"
    for sync in syncs:
        words = sync.split()
        assert {"--frozen", "--no-dev", "--no-editable"} <= set(words), sync
    assert syncs[-1].split()[2:] == ["--frozen", "--no-dev", "--no-editable"]
    assert env_of(builder)["UV_PROJECT_ENVIRONMENT"] == VENV


def test_runtime_copies_only_the_venv(builder: Stage, runtime: Stage) -> None:
    copies = runtime.all("COPY")
    assert copies, "the runtime stage needs the venv"
    for copy in copies:
        assert copy.flags.get("from") == builder.name, f"runtime COPY only from the builder: {copy}"
        assert copy.words == [VENV, VENV]
    assert not runtime.all("ADD")


def test_non_root_user_before_the_command(runtime: Stage) -> None:
    users = runtime.all("USER")
    assert users, "the final stage must set USER"
    user = users[-1]
    name, _, group = user.arguments.partition(":")
    assert name not in ("root", "0"), user
    assert group not in ("root", "0"), user
    assert user.arguments == f"{UID}:{UID}", "a fixed uid/gid the host can chown to"
    starts = [i.line for i in runtime.instructions if i.keyword in ("CMD", "ENTRYPOINT")]
    assert starts
    assert user.line < min(starts)
    # The fixed uid exists in the image and owns the data directory.
    created = " ".join(run.arguments for run in runtime.all("RUN"))
    assert f"--uid {UID}" in created
    assert f"--gid {UID}" in created
    assert re.search(rf"chown -R {UID}:{UID} /var/analytics\b", created)


def test_data_volume_and_environment(runtime: Stage) -> None:
    env = env_of(runtime)
    assert env["DATA_PATH"] == DATA_DIR
    assert "COMP_PATH" not in env, "the bundled courses are the default"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith(f"{VENV}/bin:")
    (volume,) = runtime.all("VOLUME")
    assert volume.words == [DATA_DIR]
    assert runtime.all("WORKDIR")[-1].arguments == DATA_DIR
    # Docker discards changes made to a volume's path after VOLUME: chown first.
    chown = next(run for run in runtime.all("RUN") if "chown" in run.arguments)
    assert chown.line < volume.line


def test_ports_signal_and_command(runtime: Stage) -> None:
    exposed = {word.split("/")[0] for expose in runtime.all("EXPOSE") for word in expose.words}
    assert {"8000", "9000"} <= exposed
    assert [s.arguments for s in runtime.all("STOPSIGNAL")] == ["SIGTERM"]
    command = _command(runtime)
    assert command[:2] == ["learning-analytics", "serve"]
    assert _flag(command, "--listen") == "0.0.0.0:8000"
    assert _flag(command, "--http-listen") == "0.0.0.0:9000"


def _flag(command: list[str], name: str) -> str | None:
    for index, word in enumerate(command):
        if word == name and index + 1 < len(command):
            return command[index + 1]
        if word.startswith(name + "="):
            return word.partition("=")[2]
    return None


def test_healthcheck_asks_healthz_with_the_venv_python(runtime: Stage) -> None:
    (check,) = runtime.all("HEALTHCHECK")
    words = check.words
    assert words[0] == "CMD"
    assert words[1] == f"{VENV}/bin/python", "slim images have no curl: use the venv's Python"
    assert "http://127.0.0.1:9000/healthz" in " ".join(words)
    assert "timeout" in check.flags
    assert "interval" in check.flags


def test_stop_timeout_is_documented(dockerfile: Dockerfile) -> None:
    text = " ".join(dockerfile.comments)
    assert "--stop-timeout" in text
    assert "TimeoutStopSec" in text


def test_copy_sources_exist_and_are_in_the_context(dockerfile: Dockerfile) -> None:
    rules = parse_dockerignore((ROOT / ".dockerignore").read_text(encoding="utf-8"))
    for copy in dockerfile.all("COPY"):
        if "from" in copy.flags:
            continue
        *sources, _destination = copy.words
        for source in sources:
            assert (ROOT / source).exists(), f"line {copy.line}: {source} is not in the repo"
            assert not is_excluded(source, rules), f"line {copy.line}: .dockerignore drops {source}"
            for file in context_files(ROOT, source):
                if "__pycache__" in file or file.endswith(".pyc"):
                    continue
                assert not is_excluded(file, rules), f"{file} is COPYed but .dockerignore drops it"


def test_the_builder_copies_everything_the_wheel_needs(builder: Stage) -> None:
    """A package added to the wheel but not COPYed would build a broken image."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {"pyproject.toml", "uv.lock", project["project"]["readme"]}
    needed |= set(wheel["packages"]) | set(wheel.get("force-include", {}))
    copied = {
        source.rstrip("/")
        for copy in builder.all("COPY")
        if "from" not in copy.flags
        for source in copy.words[:-1]
    }
    assert needed <= copied, f"not copied into the builder: {sorted(needed - copied)}"


def test_dockerignore_keeps_local_state_out() -> None:
    rules = parse_dockerignore((ROOT / ".dockerignore").read_text(encoding="utf-8"))
    for path in [
        ".venv/bin/python",
        ".git/HEAD",
        "data/analytics.sqlite3",
        "benchmarks/out/report.json",
        "cli/__pycache__/main.cpython-311.pyc",
        ".pytest_cache/v/cache",
        ".ruff_cache/x",
        ".hypothesis/examples/x",
    ]:
        assert is_excluded(path, rules), path
    for path in ["cli/main.py", "comparison_graphs/spinner-cie3.json", "uv.lock", "README.md"]:
        assert not is_excluded(path, rules), path


def test_dockerignore_matching() -> None:
    rules = parse_dockerignore("# c\n/data\n**/*.pyc\ndocs\n!docs/keep.md\nb?n/[a-c]*\n")
    assert is_excluded("data/x/y", rules)
    assert not is_excluded("sub/data", rules)  # anchored at the context root
    assert is_excluded("a/b/c.pyc", rules)
    assert is_excluded("top.pyc", rules)
    assert is_excluded("docs/a.md", rules)
    assert not is_excluded("docs/keep.md", rules)  # the last matching rule wins
    assert is_excluded("bin/apple", rules)
    assert not is_excluded("bin/zebra", rules)


# ----------------------------------------------- (b) install and start ---

NETWORK_ERRORS = re.compile(
    r"failed to fetch|error sending request|dns error|failed to lookup|connection refused|"
    r"network is unreachable|could not connect|tcp connect error|timed out|"
    r"temporary failure in name resolution|no route to host",
    re.IGNORECASE,
)
INSTALL_STEP_TIMEOUT_S = 120  # a cold uv cache downloads numpy and pandas
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to replay the image's install steps (./dev installs it)")
    return uv


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment without this checkout's venv or any service setting, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LA_", "UV_PROJECT", "PYTHON", "VIRTUAL_ENV"))
        and key not in ("DATA_PATH", "COMP_PATH", "LOG_URL")
    }
    return env | extra


class IndexUnreachableError(Exception):
    """A build step failed because the package index could not be reached."""


def _run_step(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run one build step; skip the test only when the package index cannot be reached."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_STEP_TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        if NETWORK_ERRORS.search(output):
            raise IndexUnreachableError(output.strip()[-400:])
        pytest.fail(f"{shlex.join(command)} failed ({result.returncode}):\n{output}")
    return result.stdout


def _build_context(destination: Path, builder: Stage) -> None:
    """The files the builder stage COPYs, as the build context hands them over."""
    rules = parse_dockerignore((ROOT / ".dockerignore").read_text(encoding="utf-8"))
    for copy in builder.all("COPY"):
        for source in copy.words[:-1]:
            for file in context_files(ROOT, source):
                if not is_excluded(file, rules):
                    target = destination / file
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / file, target)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _replace_in(words: list[str], old: str, new: str) -> list[str]:
    return [word.replace(old, new) for word in words]


@pytest.mark.needs_index
def test_image_steps_replayed_in_a_clean_venv(tmp_path, builder: Stage, runtime: Stage) -> None:
    """Skipped only when the package index cannot be reached; ~5 s with a warm uv cache.

    A plain test that runs trio itself: pytest-trio drops the reason of a skip.
    """
    try:
        venv = _install(tmp_path, builder)
    except IndexUnreachableError as exc:
        pytest.skip(f"the package index is not reachable: {exc}")
    trio.run(_start_and_stop, tmp_path, venv, runtime)


def _install(tmp_path: Path, builder: Stage) -> Path:
    """The builder stage's uv steps, run on a copy of its context into a new venv."""
    context = tmp_path / "src"
    _build_context(context, builder)
    venv = tmp_path / "venv"
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    env = _clean_env(
        {key: value for key, value in env_of(builder).items() if key.startswith("UV_")}
        | {"UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": str(python)}
    )
    steps = [run for run in builder.all("RUN") if run.arguments.startswith("uv ")]
    assert steps
    for step in steps:
        _run_step([_uv(), *shlex.split(step.arguments)[1:]], context, env)
    # The build's own check that the bundled courses load, against the new venv.
    check = next(run for run in builder.all("RUN") if "bundled_catalog" in run.arguments)
    for part in check.arguments.split(" && "):
        _run_step(_replace_in(shlex.split(part.partition(">")[0]), VENV, str(venv)), tmp_path, env)
    where = _run_step(
        [
            str(venv / "bin/python"),
            "-I",
            "-c",
            "import courses; print(courses.bundled_directory())",
        ],
        tmp_path,
        env,
    )
    bundled = Path(where.strip())
    assert bundled.is_relative_to(venv), f"courses read from {bundled}, not from the wheel"
    assert sorted(p.name for p in bundled.glob("*.json")) == sorted(
        p.name for p in (ROOT / "comparison_graphs").glob("*.json")
    )
    return venv


async def _start_and_stop(tmp_path: Path, venv: Path, runtime: Stage) -> None:
    """Start as the image does, talk to it, SIGTERM it: exit 0 within 10 s.

    Its ENV, its WORKDIR (the data directory, outside the repo), its
    ENTRYPOINT + CMD; loopback ports instead of 0.0.0.0.
    """
    hub, ops = _free_port(), _free_port()
    data = tmp_path / "data"
    await trio.Path(data).mkdir()
    image_env = env_of(runtime)
    run_env = _clean_env(
        {
            "PATH": image_env["PATH"].replace(VENV, str(venv)).replace("$PATH", os.environ["PATH"]),
            "PYTHONUNBUFFERED": image_env["PYTHONUNBUFFERED"],
            "PYTHONDONTWRITEBYTECODE": image_env["PYTHONDONTWRITEBYTECODE"],
            "DATA_PATH": image_env["DATA_PATH"].replace(DATA_DIR, str(data)),
        }
    )
    command = _command(runtime)
    command = _replace_in(command, "0.0.0.0:8000", f"127.0.0.1:{hub}")
    command = _replace_in(command, "0.0.0.0:9000", f"127.0.0.1:{ops}")
    command[0] = str(venv / "bin" / command[0])
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log:
        process = await trio.lowlevel.open_process(
            command, cwd=data, env=run_env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        with trio.fail_after(START_TIMEOUT_S):
            while await trio.to_thread.run_sync(_get, f"http://127.0.0.1:{ops}/healthz") != 200:
                assert process.returncode is None, log_path.read_text()
                await trio.sleep(0.1)
        assert await trio.to_thread.run_sync(_get, f"http://127.0.0.1:{ops}/readyz") == 200

        # The image's HEALTHCHECK command itself.
        (healthcheck,) = runtime.all("HEALTHCHECK")
        probe = _replace_in(healthcheck.words[1:], f"{VENV}/bin/python", str(venv / "bin/python"))
        probe = _replace_in(probe, "127.0.0.1:9000", f"127.0.0.1:{ops}")
        assert (await trio.run_process(probe, cwd=data, env=run_env, check=False)).returncode == 0

        # A student's events and a dashboard's request, answered from the
        # courses bundled in the installed wheel.
        async with open_client(f"ws://127.0.0.1:{hub}/spin30") as ws:
            ui = Client(ws)
            for t, name in enumerate(["voltage", "speed", "voltage"]):
                await ui.send(event("u1", name, t))
            (reply,) = await ui.ask(request("u1", "indicators", id=1), 1)
            assert reply["id"] == 1
            assert reply["indicators"]["edges"] > 0
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        with trio.move_on_after(STOP_TIMEOUT_S):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
            pytest.fail(f"no exit within {STOP_TIMEOUT_S} s of SIGTERM:\n{log_path.read_text()}")
    assert process.returncode == 0, log_path.read_text()
    assert (data / "analytics.sqlite3").is_file()
    log = log_path.read_text()
    assert '"event":"service.stopped"' in log.replace(" ", "")
