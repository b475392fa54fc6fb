"""The v2 student script says what the lab UIs say, and means what the reference derives.

The script knows the actions it meant (a slider pair is one); the reference
derives actions from the statements by PROTOCOL-V2.md's rules (checked
against the golden file in ``test_v2_reference``). The two must agree, or a
load run would call a right service wrong. Every statement must also be
one the service's own decoder accepts.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from urllib.parse import unquote

import orjson
import pytest

from courses import bundled_catalog
from loadtest.v2asks import V2DashboardScript
from loadtest.v2options import DEFAULT_V2_MIX
from loadtest.v2reference import CourseFacts, V2Expected
from loadtest.v2script import NOISE, V2StudentScript, cast_v2
from messages import decode_identity, decode_statement, decode_user_feedback

CATALOG = bundled_catalog()
START_MS = 1_733_000_000_000
STEPS = 400


def scripted(users: int = 30, seed: int = 3, overtake_share: float = 0.2):
    for persona in cast_v2(CATALOG, users, seed):
        script = V2StudentScript(
            persona, seed, start_ms=START_MS, lh="http://x/lh", overtake_share=overtake_share
        )
        yield persona, script, [script.next_step() for _ in range(STEPS)]


def test_the_cast_covers_every_course_and_the_names_browsers_send():
    personas = cast_v2(CATALOG, 100, 1)
    assert {p.course.key for p in personas} == {c.key for c in CATALOG.courses.values()}
    assert {p.code for p in personas if p.course.course == "engdes1"} == {"ed1"}
    assert any(p.task is None for p in personas)  # truss, torsion: no task graphs
    assert sum(p.anonymous for p in personas) == 2
    assert any("+" in p.user and "@" in p.user for p in personas)
    for persona in personas:
        # Not URL-encoded by the page; the browser encodes what a URL cannot hold.
        identity = decode_identity(persona.query.encode())
        assert (identity.username, identity.hardware, identity.course) == (
            persona.user, persona.hardware, persona.code,
        )  # fmt: skip
        assert unquote(persona.user_in_query) == persona.user


def test_the_script_means_what_the_reference_derives_from_its_statements():
    kinds: Counter[str] = Counter()
    for persona, script, steps in scripted():
        facts = CourseFacts.of(persona.course)
        expected = V2Expected(facts, persona.code)
        timestamps = []
        for step in steps:
            kinds["overtaking"] += step.overtaking
            for statement in step.statements:
                expected.add_statement(statement.body)
                timestamps.append(statement.timestamp)
                kinds[statement.verb] += 1
        assert timestamps == sorted(set(timestamps)), "strictly increasing"
        derived = [facts.nodes[i] for i in expected.recent]
        assert derived == script.actions, persona.user
        assert expected.num_logs == sum(len(step.statements) for step in steps)
        assert expected.session_starts[0] == timestamps[0]
    assert kinds["overtaking"] > 0
    assert {"session-started", "clicked", "changed", "pressed-hotkey", "session-expired"} <= set(
        kinds
    )
    assert {kind for kind in NOISE if kind.endswith("-component")} <= set(kinds)


def test_slider_pairs_long_pauses_and_unknown_nodes_are_all_sent():
    seen = Counter()
    for _, _, steps in scripted(users=10):
        statements = [s for step in steps for s in step.statements]
        for earlier, later in pairwise(statements):
            if (earlier.verb, later.verb) == ("clicked", "changed") and (
                earlier.body["object"]["id"] == later.body["object"]["id"]
            ):
                gap = later.timestamp - earlier.timestamp
                seen["slider" if gap <= 2_000 else "slow slider"] += 1
            if later.timestamp - earlier.timestamp > 30 * 60_000:
                seen["pause"] += 1
        seen["unknown node"] += sum(
            s.body["context"].get("graph_node") == "not_a_node" for s in statements
        )
    assert min(seen[k] for k in ("slider", "slow slider", "pause", "unknown node")) > 0, seen


@pytest.mark.parametrize("seed", [1, 2])
def test_every_statement_and_feedback_body_is_one_the_service_accepts(seed):
    for persona, _, steps in scripted(users=12, seed=seed):
        for step in steps[:100]:
            for statement in step.statements:
                decoded = decode_statement(statement.encoded)
                assert decoded.verb == statement.verb
                assert decoded.timestamp == statement.timestamp
                assert orjson.loads(statement.encoded) == statement.body
        dashboard = V2DashboardScript(persona, seed, "/th", DEFAULT_V2_MIX)
        for _ in range(200):
            ask = dashboard.next_ask()
            assert ask.target.startswith(f"/th/{ask.endpoint}?")
            if ask.body is not None:
                decode_user_feedback(orjson.dumps(ask.body))
            if ask.endpoint == "comparisonGraph":
                assert ask.target.split("?", 1)[1].startswith(f"taskcode={ask.taskcode}&")
                assert persona.course.task_of(str(ask.taskcode)) is not None


def test_the_same_seed_says_the_same_things():
    first = [[s.encoded for st in steps for s in st.statements] for _, _, steps in scripted()]
    again = [[s.encoded for st in steps for s in st.statements] for _, _, steps in scripted()]
    assert first == again
