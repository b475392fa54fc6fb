"""Forgetting a user while the service runs (``POST /admin/forget/<user>``, issue 15).

Everything happens under the store writer's ``exclusive`` hold, so no write
is in flight (nor a failed batch put back behind our back) and two forgets
never overlap: first memory, synchronously (the router drops the user's
session, their line and whatever it held, the writer their buffered events
and pending snapshot), then one transaction on the writer's connection in
its thread erases their events, snapshots and import records
(``store.erase.erase_user``), and the WAL is truncated (``reclaim``). Loads
of the user wait until then, so nothing is read back from before the
erase; their messages that arrive meanwhile are new data, kept.

A request of theirs already with the analytics pool (a few milliseconds'
worth) is still answered to the connection that asked, from before.
"""

from __future__ import annotations

import sqlite3
from functools import partial

import attrs

from actors.router import Router
from actors.writer import StoreWriter
from legacy import owns_source
from store.erase import EraseReport, erase_user, reclaim
from web.admin import ForgetReport


async def forget_user(router: Router, writer: StoreWriter, user: str) -> ForgetReport:
    """Erase ``user`` from memory and the store; returns once the erase is committed.

    Raises ``StoreError`` when the store refuses: its rows are then intact,
    but what memory held of the user (their buffered events too) is gone,
    and they are loaded from the store again on their next message.
    """
    async with writer.exclusive():
        try:
            session_dropped, held = router.forget_user(user)
            buffered = writer.drop_user(user)
            erased = await writer.on_store(partial(_erase, user))
        finally:
            router.forgotten(user)
    return ForgetReport(erased, session_dropped=session_dropped, buffered_events=buffered + held)


def _erase(user: str, connection: sqlite3.Connection) -> EraseReport:
    """The one transaction, then the WAL truncated (the freed pages are zeroed by it)."""
    report = erase_user(connection, user, owns_source=owns_source(user))
    return attrs.evolve(report, reclaim=reclaim(connection))
