"""What the fake v2 students and dashboards say (PROTOCOL-V2.md): sans-io, seeded, no sockets.

A student is today's lab UI: one statement per user action, POSTed to
``addLog``. Its actions are a random walk over one task graph of its
course (as the v1 students'), each sent the way the UIs send it: a button's
``clicked``, a slider's ``clicked`` then ``changed`` on the same
``object.id`` within 2 s (one action), a checkbox's ``changed``, a
``pressed-hotkey``; between them the statements that name no node
(``data-hovered``, ``opened-component``, a click on the page, a node the
course does not know), now and then a pause of over 30 minutes, a new
``session-started`` or a ``session-expired``. Timestamps are the script's
own clock, strictly increasing: which statement came first is the
script's to say, whatever order the requests arrive in.

A step is what one student sends at once: one statement, or two that
overtake each other (both in flight, the later one sent first), as a
browser's requests do.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Final
from urllib.parse import quote

import attrs
import orjson

from courses import Catalog, Course
from loadtest.script import TaskWalk

STATEMENT_VERSION: Final = "3.0.0-analytics"
UNKNOWN_NODE: Final = "not_a_node"
# The script's clock between statements (ms), and its long pauses.
STEP_MS: Final = (200, 6_000)
SLIDER_MS: Final = (100, 1_900)  # a slider's changed after its clicked: one action
SLOW_SLIDER_MS: Final = (2_100, 5_000)  # past the 2 s window: two actions
GAP_MS: Final = (31 * 60_000, 90 * 60_000)  # over 30 minutes: a new session
# Shares of a student's draws.
GAP_SHARE: Final = 0.01
EXPIRED_SHARE: Final = 0.005
NOISE_SHARE: Final = 0.2
# How an action is sent, cumulative: button, slider pair, slow slider, checkbox, else hotkey.
FORMS: Final = (("button", 0.6), ("slider", 0.75), ("slow-slider", 0.78), ("checkbox", 0.85))
NOISE: Final = (
    "data-hovered",
    "opened-component",
    "closed-component",
    "dragged-component",
    "dropped-component",
    "clicked-page",
    "clicked-unknown-node",
    "hotkey-no-node",
)
NULL_USER: Final = "null"


@attrs.frozen
class V2Persona:
    """Who one fake v2 student is: its name as sent and as meant, its course, its kit.

    ``code`` is the course code the UIs send (an alias, ``ed1``, when the course
    has one); ``task`` the task graph it walks (None: a course with no task
    graphs, walked uniformly).
    """

    index: int
    user: str
    user_in_query: str  # as the browser puts it in the URL (not URL-encoded by the page)
    course: Course
    code: str
    task: str | None
    kit: str

    @property
    def hardware(self) -> str:
        return self.course.exp

    @property
    def query(self) -> str:
        return f"username={self.user_in_query}&course={self.code}&hardware={self.hardware}"

    @property
    def anonymous(self) -> bool:
        return self.user == NULL_USER

    def task_code(self, task: str) -> str:
        return f"{self.hardware}-{self.code}-{task}"


def _user_name(seed: int, index: int, rng: random.Random) -> tuple[str, str]:
    """``(user, as sent)``. Some are e-mail addresses (``+`` and ``@`` go raw, and
    ``+`` is a plus), some have a letter a browser percent-encodes, 2 % are the
    ``null`` of a browser without a booking."""
    tag = f"{rng.getrandbits(32):08x}"
    if index % 50 == 7:
        return NULL_USER, NULL_USER
    if index % 10 == 3:
        user = f"lt{seed}.{index:05d}+{tag}@lab.example"
        return user, user
    if index % 10 == 6:
        user = f"lt{seed}-{index:05d}-marí{tag}"
        return user, quote(user, safe="+@.-_~")
    user = f"lt{seed}-{index:05d}-{tag}"
    return user, user


def cast_v2(catalog: Catalog, users: int, seed: int) -> list[V2Persona]:
    """The students of a v2 run: courses round robin over the whole catalog (those with no
    task graphs too), each under the code the v2 UIs use, tasks at random."""
    rng = random.Random(f"cast-v2-{seed}")
    courses = sorted(catalog.courses.values(), key=lambda c: c.key)
    personas = []
    for index in range(users):
        course = courses[index % len(courses)]
        code = course.aliases[0] if course.aliases else course.course
        task = rng.choice(list(course.tasks)) if course.tasks else None
        user, sent = _user_name(seed, index, rng)
        kit = f"{course.exp[:4]}{1 + index % 30}"
        personas.append(V2Persona(index, user, sent, course, code, task, kit))
    return personas


@attrs.frozen
class Outgoing:
    """One statement to POST: the body as sent, and what the report counts it by."""

    verb: str
    timestamp: int
    body: dict[str, Any] = attrs.field(eq=False, repr=False)
    encoded: bytes = attrs.field(eq=False, repr=False)
    action: str | None = None  # the node, when the script meant an action by it


@attrs.frozen
class Step:
    """What a student sends at once, in timestamp order; ``overtaking``: all in flight
    together, the later ones sent first."""

    statements: tuple[Outgoing, ...]
    overtaking: bool


class V2StudentScript:
    """The statements one student sends, in timestamp order: a seeded lab session.

    ``actions`` lists the graph nodes of the actions handed out so far (a
    slider pair once), for tests: the reference derives the same from the
    statements.
    """

    def __init__(
        self, persona: V2Persona, seed: int, *, start_ms: int, lh: str, overtake_share: float
    ) -> None:
        self.persona = persona
        self.rng = random.Random(f"v2-student-{seed}-{persona.index}")
        course = persona.course
        n = len(course.nodes)
        # No task graph: an all-zero one, which TaskWalk walks uniformly.
        matrix = course.tasks[persona.task].tolist() if persona.task else [[0] * n] * n
        self.walk = TaskWalk(course.nodes, matrix, frozenset(course.nodes))
        self.clock_ms = start_ms
        self.lh = lh
        self.overtake_share = overtake_share
        self.actions: list[str] = []
        self._queue: deque[Outgoing] = deque()
        self._started = False

    def next_step(self) -> Step:
        overtaking = self._started and self.rng.random() < self.overtake_share
        wanted = 2 if overtaking else 1
        while len(self._queue) < wanted:
            self._unit()
        statements = tuple(self._queue.popleft() for _ in range(wanted))
        self.actions += [s.action for s in statements if s.action is not None]
        return Step(statements, overtaking)

    # --- one unit: a statement, or the two of a slider -----------------------------

    def _tick(self, span: tuple[int, int]) -> int:
        self.clock_ms += self.rng.randint(*span)
        return self.clock_ms

    def _unit(self) -> None:
        rng = self.rng
        if not self._started:
            self._started = True
            self._emit("session-started", self._tick(STEP_MS), self._ui(), {})
            return
        draw = rng.random()
        if draw < GAP_SHARE:
            self._tick(GAP_MS)  # silence; half the time the page is opened again
            if rng.random() < 0.5:
                self._emit("session-started", self._tick(STEP_MS), self._ui(), {})
                return
        elif draw < GAP_SHARE + EXPIRED_SHARE:
            context = {"session-expired": True, "exp_id": self.persona.kit}
            self._emit("session-expired", self._tick(STEP_MS), self._ui(), context, actor="system")
            return
        elif draw < GAP_SHARE + EXPIRED_SHARE + NOISE_SHARE:
            self._noise(rng.choice(NOISE))
            return
        self._action(self.walk.step(rng).node)

    def _action(self, node: str) -> None:
        draw = self.rng.random()
        form = next((name for name, upto in FORMS if draw < upto), "hotkey")
        t = self._tick(STEP_MS)
        if form == "hotkey":
            key = {"id": node[:1]}
            self._emit("pressed-hotkey", t, key, self._context("keydown", t, node), node=node)
        elif form == "checkbox":
            box = self._element(f"{node}-checkbox") | {"value": self.rng.random() < 0.5}
            self._emit("changed", t, box, self._context("change", t, node), node=node)
        elif form == "button":
            self._emit(
                "clicked",
                t,
                self._element(f"{node}-button"),
                self._context("click", t, node),
                node=node,
            )
        else:  # a slider: clicked, then changed on the same element
            slider = self._element(f"{node}-slider")
            self._emit("clicked", t, slider, self._context("click", t, node), node=node)
            later = self._tick(SLIDER_MS if form == "slider" else SLOW_SLIDER_MS)
            value = slider | {"value": str(self.rng.randint(0, 100))}
            self._emit(
                "changed",
                later,
                value,
                self._context("change", later, node),
                node=node,
                action=form == "slow-slider",
            )

    def _noise(self, kind: str) -> None:
        t = self._tick(STEP_MS)
        kit = self.persona.kit
        if kind == "data-hovered":  # the UIs send no verb definition for it
            context = {"dataset": 0, "data": {"x": self.rng.randint(0, 99), "y": 1}, "exp_id": kit}
            self._emit(kind, t, {"id": "chart-canvas"}, context, definition=False)
        elif kind.endswith("-component"):
            event = {"opened": "click", "closed": "click", "dragged": "dragstart"}
            context = self._context(event.get(kind.split("-", maxsplit=1)[0], "drop"), t, None)
            self._emit(kind, t, self._element("camera-widget"), context)
        elif kind == "clicked-page":
            self._emit("clicked", t, self._element("graph-output"), self._context("click", t, None))
        elif kind == "clicked-unknown-node":
            context = self._context("click", t, UNKNOWN_NODE)
            self._emit("clicked", t, self._element("mystery-button"), context)
        else:
            self._emit("pressed-hotkey", t, {"id": "h"}, self._context("keydown", t, None))

    # --- statement parts -----------------------------------------------------------

    def _ui(self) -> dict[str, Any]:
        return {"ui": self.persona.hardware, "exp_id": self.persona.kit}

    def _element(self, element_id: str) -> dict[str, Any]:
        return {"id": element_id, "parent": "panel", "ui": self.persona.hardware}

    def _context(self, event_type: str, t: int, node: str | None) -> dict[str, Any]:
        context: dict[str, Any] = {
            "event_type": event_type,
            "event_timestamp": t,
            "x": self.rng.randint(0, 1919),
            "y": self.rng.randint(0, 1079),
            "exp_id": self.persona.kit,
        }
        if node is not None:
            context["graph_node"] = node
        return context

    def _emit(
        self,
        verb: str,
        t: int,
        obj: dict[str, Any],
        context: dict[str, Any],
        *,
        node: str | None = None,
        action: bool = True,
        definition: bool = True,
        actor: str | None = None,
    ) -> None:
        """Queue one statement; with a ``node`` and ``action``, the script meant an action
        (a slider's ``changed`` within the window is not one: its ``clicked`` was)."""
        verb_part = {"name": verb}
        if definition:
            verb_part["definition"] = f"{self.lh}/verbs/{verb}"
        body = {
            "timestamp": t,
            "level": "INFO",
            "type": "analytics",
            "version": STATEMENT_VERSION,
            "actor": {"id": actor or self.persona.user, "course": self.persona.code},
            "verb": verb_part,
            "object": obj,
            "context": context,
        }
        meant = node if action else None
        self._queue.append(Outgoing(verb, t, body, orjson.dumps(body), meant))
