"""Cost of the sans-io hot path: decode a frame; build and encode all_feedback.

Prints, per course, the median and p99 microseconds of:
- decoding one inbound ``analytics`` frame (orjson + cattrs + id limits);
- building and encoding the five replies of ``all_feedback`` for a student
  with a realistic graph (``Replier`` + ``encode``);
- the same five replies computed the straightforward way, every figure from
  the public ``analytics`` functions with nothing precomputed (the baseline).

    uv run python benchmarks/bench_replies.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

import numpy as np
import orjson

import analytics
from analytics.progress import StudentProgress
from analytics.replies import Replier
from courses import Course, bundled_catalog
from messages import AnalyticsEvent, Request, decode, encode


def timings_us(action: Callable[[], object], rounds: int) -> list[float]:
    for _ in range(min(200, rounds)):
        action()  # warm caches and cattrs' generated code
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        action()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):7.1f} µs   p99 {p99:7.1f} µs"


def student_of(course: Course, rng: random.Random, commands: int = 400) -> StudentProgress:
    progress = StudentProgress("bench-user", bundled_catalog())
    logs = list(course.command_of)
    for t in range(commands):
        progress.apply(
            AnalyticsEvent(
                user="bench-user",
                t=t,
                exp=course.exp,
                course=course.course,
                hardware="hw",
                payload=decode_payload(rng.choice(logs)),
            )
        )
    return progress


def decode_payload(log: str) -> object:
    frame = {
        "user": "u",
        "t": 1,
        "type": "analytics",
        "exp": "e",
        "course": "c",
        "payload": {"log": log, "data": {"set": 0.5}},
    }
    return decode(json.dumps(frame)).payload


def naive_all_feedback(course: Course, matrix: np.ndarray, graph: str) -> str:
    """Everything recomputed per request with the public API, no precomputation."""
    nodes, positions = list(course.nodes), dict(course.positions)
    vertices = [{"name": v.name, "x": v.x, "y": v.y} for v in course.centroid_vertices]
    task = graph.removeprefix(f"{course.key}-")
    replies = [
        analytics.vis_graph(matrix, nodes, positions),
        analytics.vis_graph(course.tasks[task], nodes, positions),
        {course.graph_name(t): analytics.task_distance(matrix, g) for t, g in course.tasks.items()},
        {
            "exploration": analytics.task_distance(matrix, course.full_graph, a=0, b=10),
            "enjoyment": analytics.enjoyment([], course.feedback_subjects),
            "edges": analytics.total_edges(matrix, course.full_graph),
        },
        {
            "student": analytics.centroid(matrix, nodes, vertices),
            **{
                k: analytics.centroid(course.tasks[t], nodes, vertices)
                for k, t in course.centroid_keys.items()
            },
            "vertices": vertices,
        },
    ]
    return "".join(orjson.dumps(reply).decode() for reply in replies)


def report(course: Course, replier: Replier, rng: random.Random, rounds: int) -> None:
    snapshot = student_of(course, rng).snapshot(course.exp, course.course)
    assert snapshot is not None
    graph = course.graph_name(next(iter(course.tasks)))
    envelope = {"user": "bench-user", "exp": course.exp, "course": course.course}
    request = decode(
        json.dumps(
            envelope
            | {"type": "request", "id": 17, "payload": {"content": "all_feedback", "graph": graph}}
        )
    )
    assert isinstance(request, Request)
    command = next(iter(course.command_of))
    frame = json.dumps(
        envelope
        | {
            "user": "3f2a4c1e-9b7d-4e0a-8c51-2d6f0e9a7b13",
            "t": 1673262940583,
            "type": "analytics",
            "hardware": "spin30",
            "payload": {"log": command, "data": {"set": 0.35}},
        }
    )

    def build_and_encode() -> list[str]:
        return [encode(reply) for reply in replier.answer(request, snapshot)]

    figures = {
        "decode one analytics frame": lambda: decode(frame),
        "all_feedback: build + encode (5)": build_and_encode,
        "all_feedback: build only": lambda: replier.answer(request, snapshot),
        "baseline: naive public-API rebuild": lambda: naive_all_feedback(
            course, snapshot.matrix, graph
        ),
    }
    print(f"\n{course.key}  ({len(course.nodes)} nodes, {len(course.tasks)} task graphs)")
    for label, action in figures.items():
        print(f"  {label:36s} {summary(timings_us(action, rounds))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    rounds = parser.parse_args().rounds
    catalog = bundled_catalog()
    replier = Replier(catalog)
    print(f"rounds per figure: {rounds}")
    for course in catalog.courses.values():
        report(course, replier, random.Random(7), rounds)


if __name__ == "__main__":
    main()
