"""The hash-chained audit log: each row's hash = sha256(previous hash + canonical JSON of the row).

The chain makes an edited, deleted or inserted row visible to ``verify_chain``: an edit changes
the row's hash, a deletion or insertion breaks the next row's ``prev_hash`` link, and the head
(last id and hash, kept in ``kv`` in the same transaction) catches a cut at the end. It is
tamper-evident, not tamper-proof: someone who rewrites every later row and the head goes unseen,
which is why the chain is also pushed to the record server through the outbox of each use case.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
HEAD_KEY = "audit_head"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """Hash of one row: ``row`` has id, at, actor, action, subject, detail (JSON text)."""
    body = canonical_json({k: row[k] for k in ("id", "at", "actor", "action", "subject", "detail")})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    rows: int
    bad_id: int | None = None
    reason: str = ""


def append(
    conn: sqlite3.Connection, *, at: str, actor: str, action: str, subject: str, detail: dict[str, Any]
) -> int:
    """Append one row inside the caller's transaction; returns its id."""
    head = conn.execute("SELECT value FROM kv WHERE key = ?", (HEAD_KEY,)).fetchone()
    if head is None:
        last_id, prev = 0, GENESIS
    else:
        last_id_text, prev = str(head[0]).split(":", 1)
        last_id = int(last_id_text)
    new_id = last_id + 1
    row: dict[str, Any] = {
        "id": new_id, "at": at, "actor": actor, "action": action, "subject": subject,
        "detail": canonical_json(detail),
    }
    digest = row_hash(prev, row)
    conn.execute(
        "INSERT INTO audit_log (id, at, actor, action, subject, detail, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (new_id, at, actor, action, subject, row["detail"], prev, digest),
    )
    conn.execute(
        "INSERT INTO kv (key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (HEAD_KEY, f"{new_id}:{digest}"),
    )
    return new_id


def verify_chain(conn: sqlite3.Connection) -> ChainCheck:
    """Walk the whole log in id order and check every link and hash, then the head."""
    prev = GENESIS
    expected_id = 1
    count = 0
    cur = conn.execute(
        "SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY id"
    )
    for rid, at, actor, action, subject, detail, prev_hash, digest in cur:
        row = {"id": rid, "at": at, "actor": actor, "action": action, "subject": subject,
               "detail": detail}
        if rid != expected_id:
            return ChainCheck(False, count, rid, f"row {expected_id} is missing")
        if prev_hash != prev:
            return ChainCheck(False, count, rid, "link to the previous row is broken")
        if row_hash(prev, row) != digest:
            return ChainCheck(False, count, rid, "row was edited")
        prev = digest
        expected_id += 1
        count += 1
    head = conn.execute("SELECT value FROM kv WHERE key = ?", (HEAD_KEY,)).fetchone()
    if head is None:
        if count:
            return ChainCheck(False, count, None, "head record is missing")
        return ChainCheck(True, 0)
    head_id, head_hash = str(head[0]).split(":", 1)
    if int(head_id) != count or head_hash != prev:
        return ChainCheck(False, count, int(head_id), "rows after the last one were removed")
    return ChainCheck(True, count)
