"""The systemd unit and the env file that run the container on a lab server.

The rules checked are the ones an outage would come from: stop timeouts that
nest (systemd > docker > the service's own grace and flush, else SIGKILL
loses the last commits), a restart policy, a stale container removed before
start, the data volume and the settings file. ``systemd-analyze verify`` runs
too where it exists, in a scratch root with a stand-in docker.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import attrs
import pytest

from actors.router import STOP_TIMEOUT_S
from config.settings import Settings, SettingsError, env_name, load_settings
from tests.ops.dockerfile_parser import parse_dockerfile

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "ops" / "learning-analytics.service"
ENV_EXAMPLE = ROOT / "ops" / "learning-analytics.env.example"
NAME = "learning-analytics"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [values in order]}}``: keys repeat in unit files (Environment=)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            raise ValueError(f"line {number}: not KEY=value in a section: {raw!r}")
        current.setdefault(key.strip(), []).append(value.strip())
    if pending:
        raise ValueError("the file ends inside a continuation")
    return sections


def _one(section: dict[str, list[str]], key: str) -> str:
    values = section.get(key, [])
    assert len(values) == 1, f"{key}= must be set once, found {values}"
    return values[0]


def _words(section: dict[str, list[str]], key: str) -> list[str]:
    return " ".join(section.get(key, [])).split()


def _option(words: list[str], name: str) -> list[str]:
    """Every value of ``name`` (``--name value`` or ``--name=value``) in ``words``."""
    found = []
    for index, word in enumerate(words):
        if word == name and index + 1 < len(words):
            found.append(words[index + 1])
        elif word.startswith(name + "="):
            found.append(word.partition("=")[2])
    return found


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def docker_run(unit) -> list[str]:
    words = shlex.split(_one(unit["Service"], "ExecStart"))
    assert words[:2] == ["/usr/bin/docker", "run"], "ExecStart runs the container: docker run"
    return words


def test_parser_joins_continuations_and_keeps_repeated_keys() -> None:
    parsed = parse_unit(
        "# c\n[Unit]\nAfter=a b\n\n[Service]\nEnvironment=A=1\nEnvironment=B=2\n"
        "ExecStart=/bin/x \\\n    --flag \\\n    value\n"
    )
    assert parsed["Service"]["Environment"] == ["A=1", "B=2"]
    assert parsed["Service"]["ExecStart"] == ["/bin/x --flag value"]
    with pytest.raises(ValueError, match="not KEY=value"):
        parse_unit("[Unit]\njust words\n")


def test_needs_docker_and_the_network(unit) -> None:
    assert "docker.service" in _words(unit["Unit"], "Requires")
    assert {"docker.service", "network-online.target"} <= set(_words(unit["Unit"], "After"))
    assert "network-online.target" in _words(unit["Unit"], "Wants")
    assert _words(unit["Install"], "WantedBy") == ["multi-user.target"]


def test_runs_the_container_in_the_foreground(unit, docker_run) -> None:
    service = unit["Service"]
    assert service.get("Type", ["simple"]) == ["simple"]
    assert "-d" not in docker_run
    assert "--detach" not in docker_run
    assert {"--rm", "--init"} <= set(docker_run)
    assert _option(docker_run, "--name") == [NAME]
    assert _one(service, "ExecStartPre") == f"-/usr/bin/docker rm -f {NAME}"
    assert re.fullmatch(rf"-?/usr/bin/docker stop -t \d+ {NAME}", _one(service, "ExecStop"))
    assert _one(service, "Restart") == "always"
    assert _one(service, "RestartSec") == "5"


def test_ports_volume_and_settings_match_the_image(docker_run) -> None:
    runtime = parse_dockerfile((ROOT / "Dockerfile").read_text(encoding="utf-8")).stages[-1]
    exposed = {word for expose in runtime.all("EXPOSE") for word in expose.words}
    published = _option(docker_run, "-p")
    assert published == ["8000:8000", "127.0.0.1:9000:9000"]  # ops port: host loopback only
    assert {p.rsplit(":", 1)[1] for p in published} <= exposed
    (volume,) = runtime.all("VOLUME")
    assert _option(docker_run, "-v") == [f"/var/lib/{NAME}:{volume.words[0]}"]
    assert _option(docker_run, "--env-file") == [f"/etc/{NAME}/env"]


def test_the_image_is_one_variable(unit, docker_run) -> None:
    """Upgrades and roll-backs change one line: IMAGE=<name>:<tag>."""
    assert docker_run[-1] == "${IMAGE}"
    service = unit["Service"]
    defaults = dict(value.split("=", 1) for value in service.get("Environment", []))
    name, _, tag = defaults["IMAGE"].rpartition(":")
    assert name
    assert tag
    assert tag != "latest"
    assert f"-/etc/{NAME}/image" in service.get("EnvironmentFile", [])


def test_stop_timeouts_nest(unit, docker_run) -> None:
    """systemd waits longer than docker, which waits longer than the service needs."""
    service = unit["Service"]
    (docker_timeout,) = {int(t) for t in _option(docker_run, "--stop-timeout")}
    stop_t = int(_one(service, "ExecStop").split()[_word_after(service, "-t")])
    assert stop_t == docker_timeout
    systemd_timeout = int(_one(service, "TimeoutStopSec"))
    # The stop's bounds: the grace, the loads still running, the final flush.
    flush_s = max(Settings().final_flush_s, _example_value("LA_FINAL_FLUSH_S", 0))
    grace_s = max(Settings().grace_s, _example_value("LA_GRACE_S", Settings().grace_s))
    assert systemd_timeout > docker_timeout > grace_s + STOP_TIMEOUT_S + flush_s
    assert systemd_timeout >= docker_timeout + 10  # room for docker's own stop and cleanup


def _word_after(service: dict[str, list[str]], flag: str) -> int:
    return _one(service, "ExecStop").split().index(flag) + 1


def _example_lines() -> list[tuple[bool, str, str]]:
    """``(active, NAME, value)`` of each ``NAME=value`` line, commented out or not."""
    lines = []
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        active = not raw.startswith("#")
        match = re.fullmatch(r"#?([A-Z][A-Z0-9_]*)=(.*)", raw)
        if match:
            lines.append((active, match.group(1), match.group(2)))
        else:
            assert not active or not raw.strip(), f"not NAME=value or a comment: {raw!r}"
    return lines


def _example_value(name: str, default: float) -> float:
    values = [float(v) for active, n, v in _example_lines() if active and n == name]
    return values[-1] if values else default


def test_env_example_lists_every_setting() -> None:
    listed = {name for _, name, _ in _example_lines()}
    expected = {env_name(field.name) for field in attrs.fields(Settings)} | {"LA_LOG_LEVEL"}
    assert expected <= listed, f"missing from the env example: {sorted(expected - listed)}"
    assert listed <= expected, f"not settings of the service: {sorted(listed - expected)}"
    # Names that only hold a file's path or turn a check on (issue 15 fixed them).
    not_secrets = {"LA_ACCESS_SECRET_FILE", "LA_REQUIRE_READ_TOKEN"}
    for name in listed - not_secrets:
        assert not re.search(r"PASSWORD|SECRET|TOKEN|KEY", name), name


def test_env_example_values_are_valid() -> None:
    """Every line, uncommented, is a value the service accepts (docker passes it verbatim)."""
    for _, name, value in _example_lines():
        assert value == value.strip(), f"{name}: spaces would be part of the value"
        assert not value.startswith(('"', "'")), f"{name}: docker --env-file keeps quotes"
        if name == "LA_LOG_LEVEL":
            assert value in {"DEBUG", "INFO", "WARNING", "ERROR"}
            continue
        try:
            load_settings({}, {name: value})
        except SettingsError as exc:
            pytest.fail(f"{name}={value}: {exc}")


def test_env_example_shows_the_defaults() -> None:
    """A commented-out number is the built-in default, so it must be the current one."""
    defaults = {env_name(field.name): field.default for field in attrs.fields(Settings)}
    for active, name, value in _example_lines():
        default = defaults.get(name)
        if active or isinstance(default, bool) or not isinstance(default, int | float):
            continue
        assert float(value) == default, f"#{name}={value}: the default is {default}"


def _system_units() -> Path | None:
    for candidate in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (candidate / "multi-user.target").exists():
            return candidate
    return None


def test_systemd_analyze_verify(tmp_path) -> None:
    """In a scratch root: this machine need not have docker at /usr/bin or a docker.service."""
    analyze = shutil.which("systemd-analyze")
    units = _system_units()
    if analyze is None or units is None:
        pytest.skip("systemd-analyze or the system's unit files are not on this machine")
    root = tmp_path / "root"
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/bin").mkdir(parents=True)
    docker = root / "usr/bin/docker"
    docker.write_text("#!/bin/sh\nexit 0\n")
    docker.chmod(0o755)
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    (etc / "docker.service").write_text(
        "[Unit]\nDescription=stand-in\n[Service]\nExecStart=/usr/bin/docker\n"
    )
    shutil.copy(UNIT, etc / UNIT.name)
    result = subprocess.run(
        [analyze, "verify", f"--root={root}", UNIT.name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Unknown keys and bad values are only warnings (exit 0): any output fails too.
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), result.stderr
    assert not result.stdout.strip(), result.stdout
