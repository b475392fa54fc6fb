"""What forgetting a user and a retention pass cost on a store of many events.

1. Writes a store of ``--events`` events (default 1,000,000) of ``--users``
   students (default 2,000), ~300-byte payloads, every user with a snapshot
   at the half of their events; ``received_ms`` spans ``--days`` days.
2. ``forget`` of the busiest user (users are drawn uniformly, so about
   1/users of the events, spread over the whole file) with
   ``store.erase.forget_offline``: the erase transaction, then the reclaim
   report (free pages, file size).
3. ``VACUUM`` of the same store (what ``forget --vacuum`` adds).
4. A retention pass keeping the last half of the days, in batches of
   ``--batch`` sequence numbers (default 5,000): batches, events erased, the longest batch (a write
   transaction the service's writer would wait behind), the total.

Bounded: one store on local disk, no network.

    uv run python benchmarks/bench_erase.py [--events 1000000] [--users 2000]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

from loadtest.machine import run_header
from store import DATABASE_NAME, EventRow, ProgressRow, SqliteStore
from store.erase import RETENTION_BATCH_ROWS, erase_events_before, forget_offline

BATCH = 20_000
DAY_MS = 86_400_000
START_MS = 1_700_000_000_000


def fill(data: Path, events: int, users: int, days: int, rng: random.Random) -> str:
    names = [f"user-{u:05d}-{rng.getrandbits(32):08x}" for u in range(users)]
    counts: Counter[str] = Counter()
    span = days * DAY_MS
    with SqliteStore(data) as store:
        for start in range(1, events + 1, BATCH):
            rows = []
            for seq in range(start, min(start + BATCH, events + 1)):
                user = rng.choice(names)
                counts[user] += 1
                at = START_MS + span * seq // events
                payload = {"log": "speed", "data": rng.random(), "pad": "x" * 260}
                rows.append(
                    EventRow(seq, user, "analytics", "spinner", "cie3", "spin30", at, at, payload)
                )
            half = [
                ProgressRow(user, "spinner", "cie3", rows[-1].seq, {"n": n})
                for user, n in counts.items()
                if start == 1 + BATCH * (events // BATCH // 2)
            ]
            store.write_batch(rows, half)
    return counts.most_common(1)[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--batch", type=int, default=RETENTION_BATCH_ROWS)
    args = parser.parse_args()
    print(run_header())
    with tempfile.TemporaryDirectory(prefix="bench-erase-") as directory:
        data = Path(directory) / "data"
        started = time.perf_counter()
        victim = fill(data, args.events, args.users, args.days, random.Random(args.seed))
        database = data / DATABASE_NAME
        print(
            f"store: {args.events:,} events, {args.users:,} users, "
            f"{database.stat().st_size / 1e6:.0f} MB, "
            f"written in {time.perf_counter() - started:.1f} s"
        )

        started = time.perf_counter()
        report = forget_offline(data, victim, owns_source=lambda _: False)
        took = time.perf_counter() - started
        assert report.reclaim is not None
        print(
            f"forget {victim}: {report.total_events:,} events, {report.progress} snapshots in "
            f"{took * 1000:.0f} ms (erase + checkpoint); free pages {report.reclaim.free_pages:,} "
            f"({report.reclaim.how}); file {database.stat().st_size / 1e6:.0f} MB"
        )

        started = time.perf_counter()
        with sqlite3.connect(database, isolation_level=None) as db:
            db.execute("VACUUM")
        print(
            f"VACUUM: {time.perf_counter() - started:.1f} s; "
            f"file {database.stat().st_size / 1e6:.0f} MB"
        )

        cutoff = START_MS + args.days * DAY_MS // 2
        longest = total = 0.0
        erased = batches = 0
        after: int | None = 0
        with sqlite3.connect(database, isolation_level=None) as db:
            while after is not None:
                started = time.perf_counter()
                count, after = erase_events_before(
                    db, cutoff, after_seq=after, batch_rows=args.batch
                )
                spent = time.perf_counter() - started
                longest, total = max(longest, spent), total + spent
                erased += count
                batches += after is not None
        print(
            f"retention (keep {args.days // 2} of {args.days} days, {args.batch:,} seqs "
            f"a batch): {erased:,} events erased in {batches:,} batches, {total:.1f} s in all, "
            f"longest batch {longest * 1000:.1f} ms, mean {total / max(batches, 1) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
