"""``Database.write_grouped`` on a real SQLite file: writes that queue while one runs share its
commit (one fsync), each is undone alone when it fails, and none returns before its rows are
committed (another connection sees them)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, insert, select

from record_server import models as m
from record_server.db import Database


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    db.migrate()
    return db


def _committed(tmp_path: Path) -> set[str]:
    """The kiosk_numbers names another connection sees (committed rows only)."""
    other = create_engine(f"sqlite:///{tmp_path / 'records.sqlite3'}")
    try:
        with other.connect() as conn:
            return set(conn.execute(select(m.kiosk_numbers.c.name)).scalars())
    finally:
        other.dispose()


def _write(db: Database, name: str) -> None:
    with db.write_grouped() as conn:
        conn.execute(insert(m.kiosk_numbers), {"kiosk_id": "K01", "name": name, "value": 1})


def test_queued_writes_share_one_commit_and_a_failed_one_is_undone_alone(
        tmp_path: Path) -> None:
    db = _db(tmp_path)
    commits: list[int] = []
    event.listen(db.engine, "commit", lambda conn: commits.append(1))
    release = threading.Event()
    seen_at_return: dict[str, set[str]] = {}
    errors: list[BaseException] = []

    def first() -> None:
        with db.write_grouped() as conn:
            conn.execute(insert(m.kiosk_numbers), {"kiosk_id": "K01", "name": "a", "value": 1})
            release.wait(30)  # the others queue behind this write meanwhile
        seen_at_return["a"] = _committed(tmp_path)

    def second() -> None:
        _write(db, "b")
        seen_at_return["b"] = _committed(tmp_path)

    def failing() -> None:
        try:
            with db.write_grouped() as conn:
                conn.execute(insert(m.kiosk_numbers), {"kiosk_id": "K01", "name": "x", "value": 1})
                raise RuntimeError("refused")
        except RuntimeError as err:
            errors.append(err)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    while db._group is None:  # the first write holds the group open
        time.sleep(0.01)
    threads += [threading.Thread(target=second), threading.Thread(target=failing)]
    for t in threads[1:]:
        t.start()
    while db._queued < 2:
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(60)

    assert len(errors) == 1
    assert len(commits) == 1  # three writes, one commit
    assert _committed(tmp_path) == {"a", "b"}  # the failed write alone was undone
    assert seen_at_return == {"a": {"a", "b"}, "b": {"a", "b"}}  # committed before returning
    db.dispose()


def test_a_plain_write_commits_an_open_group_first(tmp_path: Path) -> None:
    db = _db(tmp_path)
    _write(db, "a")
    with db.write() as conn:
        conn.execute(insert(m.kiosk_numbers), {"kiosk_id": "K01", "name": "p", "value": 1})
    assert _committed(tmp_path) == {"a", "p"}
    assert db._group is None
    db.dispose()


def test_an_error_in_a_grouped_write_is_raised_and_leaves_nothing(tmp_path: Path) -> None:
    db = _db(tmp_path)
    _write(db, "a")
    with pytest.raises(Exception, match="UNIQUE"):
        _write(db, "a")  # the same key again: the database refuses it
    _write(db, "b")
    assert _committed(tmp_path) == {"a", "b"}
    db.dispose()
