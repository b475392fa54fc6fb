"""Just enough of Dockerfile and .dockerignore parsing to check our own files.

No Docker engine runs where the tests run, so the image's rules are checked
on its text. This is deliberately small: it handles what our Dockerfile uses
(comments, parser directives, ``\\`` continuations, exec and shell forms,
``--flag=value`` options) and refuses what it does not (heredocs), rather
than guessing.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import attrs

# Instructions whose leading ``--name=value`` words are options, not arguments.
FLAGGED = {"FROM", "COPY", "ADD", "RUN", "HEALTHCHECK"}


@attrs.frozen
class Instruction:
    """One instruction, continuation lines joined, with the line it starts on."""

    line: int
    keyword: str
    flags: dict[str, str]
    arguments: str  # the text after the keyword and its flags

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of ``CMD ["a", "b"]``, or None for the shell form."""
        text = self.arguments.strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None  # Docker, too, runs an invalid array as a shell command
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None

    @property
    def words(self) -> list[str]:
        """The arguments as a list: the exec form's array, else shell-like words.

        ``HEALTHCHECK CMD [...]`` gives ``["CMD", *array]``.
        """
        keyword, _, rest = self.arguments.partition(" ")
        if self.keyword == "HEALTHCHECK" and keyword.upper() == "CMD":
            return ["CMD", *attrs.evolve(self, keyword="CMD", arguments=rest).words]
        form = self.exec_form
        return form if form is not None else shlex.split(self.arguments, posix=True)


@attrs.frozen
class Stage:
    """A ``FROM`` and the instructions after it, up to the next ``FROM``."""

    index: int
    image: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@attrs.frozen
class Dockerfile:
    directives: dict[str, str]
    instructions: list[Instruction]
    comments: list[str]

    @property
    def stages(self) -> list[Stage]:
        stages: list[Stage] = []
        for instruction in self.instructions:
            if instruction.keyword == "FROM":
                words = instruction.words
                name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
                stages.append(Stage(len(stages), words[0], name, [instruction]))
            elif stages:
                stages[-1].instructions.append(instruction)
        return stages

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


_DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(.*?)\s*$")


def parse_dockerfile(text: str) -> Dockerfile:
    """Instructions of ``text``; raises ``ValueError`` on what this parser does not handle."""
    directives: dict[str, str] = {}
    comments: list[str] = []
    instructions: list[Instruction] = []
    lines = text.splitlines()
    in_header = True
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if in_header and (match := _DIRECTIVE.fullmatch(stripped)):
            directives[match.group(1).lower()] = match.group(2)
            continue
        in_header = False
        if stripped.startswith("#"):
            comments.append(stripped.lstrip("#").strip())
            continue  # also inside a continuation, where Docker drops comment lines
        if not stripped and not pending:
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        instructions.append(_instruction(start, " ".join(part for part in pending if part)))
        pending = []
    if pending:
        raise ValueError(f"line {start}: the file ends inside a continuation")
    if "escape" in directives and directives["escape"] != "\\":
        raise ValueError("only the default escape character is handled")
    return Dockerfile(directives, instructions, comments)


def _instruction(line: int, text: str) -> Instruction:
    keyword, _, rest = text.partition(" ")
    keyword = keyword.upper()
    if re.search(r"<<-?[\"']?[A-Za-z_]", rest) and keyword in ("RUN", "COPY"):
        raise ValueError(f"line {line}: heredocs are not handled")
    flags: dict[str, str] = {}
    rest = rest.strip()
    if keyword in FLAGGED:
        while rest.startswith("--"):
            word, _, rest = rest.partition(" ")
            name, _, value = word[2:].partition("=")
            flags[name] = value
            rest = rest.strip()
    return Instruction(line, keyword, flags, rest)


def env_of(stage: Stage) -> dict[str, str]:
    """The ``ENV`` values set in ``stage`` (``KEY=value ...`` and the old ``KEY value``)."""
    values: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        words = shlex.split(instruction.arguments, posix=True)
        if words and "=" not in words[0]:
            values[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            values[key] = value
    return values


# ---------------------------------------------------------------- ignore ---


@attrs.frozen
class IgnoreRule:
    pattern: str
    exclude: bool  # False for a "!pattern" exception
    regex: re.Pattern[str]


def parse_dockerignore(text: str) -> list[IgnoreRule]:
    """The rules of a ``.dockerignore``, in order (the last matching rule wins)."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = line if exclude else line[1:].strip()
        # Docker cleans patterns like paths: a leading "/" or "./" means the context root.
        cleaned = str(PurePosixPath(pattern.lstrip("/"))).removeprefix("./")
        rules.append(IgnoreRule(pattern, exclude, _glob_regex(cleaned)))
    return rules


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match plus ``**`` (any number of directories), anchored at the root."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError(f"unclosed [ in .dockerignore pattern {pattern!r}")
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end + 1
        elif char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return re.compile("".join(out))


def is_excluded(path: str, rules: Iterable[IgnoreRule]) -> bool:
    """Whether the context path ``path`` (relative, "/"-separated) is left out.

    As Docker does: a rule matches a path or any of its parent directories,
    and the last rule that matches decides.
    """
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for rule in rules:
        if any(rule.regex.fullmatch(candidate) for candidate in candidates):
            excluded = rule.exclude
    return excluded


def context_files(root: Path, source: str) -> Iterator[str]:
    """The files under ``source`` (a file or a directory of the context), relative to root."""
    path = root / source
    if path.is_file():
        yield PurePosixPath(source).as_posix()
        return
    for file in sorted(path.rglob("*")):
        if file.is_file():
            yield file.relative_to(root).as_posix()
