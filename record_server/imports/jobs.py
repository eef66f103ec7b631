"""An import as a job: a dry run (the file's rows checked, then against the database; nothing
written), then, when it found no error, its commit (the file checked again and every row
written in one transaction, audited with who, the file's name and the counts).

Both run in a background thread for the console (``start``); their phase and progress go to
``import_jobs`` (and, while the one write transaction holds SQLite's single writer, to this
process's ``LIVE`` table, which ``progress`` reads first). The uploaded file waits in
``<data dir>/imports/<job id>`` between the two and is removed once it is no longer needed. The
CLI calls ``dry_run`` and ``commit`` directly.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update

from library_core.clock import Clock
from library_core.fees import FeeSchedule
from record_server import models as m
from record_server.console import audit
from record_server.db import Database
from record_server.imports import store
from record_server.imports.checks import check_items, check_readers, iter_items
from record_server.imports.marc import MarcProfile, check_marc
from record_server.imports.rows import MAX_LISTED_ERRORS, Checked, FileRefused
from record_server.imports.tabular import Table, read_table

log = logging.getLogger(__name__)
KINDS = ("readers", "items", "marc")
FINAL = ("checked", "refused", "done", "failed")
EVERY = 5000  # rows between progress reports
LIVE: dict[str, tuple[str, int, int]] = {}  # job id -> (status, done, total), this process
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportFile:
    """What is imported: the kind, the file as uploaded, and for MARC where the barcode is."""

    kind: str
    file_name: str
    data: bytes
    profile: MarcProfile = field(default_factory=MarcProfile)


def estimate_rows(f: ImportFile) -> int:
    """About how many rows or records the file holds (the progress bar's total)."""
    if f.kind == "marc":
        return max(f.data.count(b"\x1d"), f.data.count(b"<record"), f.data.count(b":record"))
    return max(f.data.count(b"\n"), 1)


def _counted(table: Table, progress: Progress) -> Table:
    def rows() -> Iterator[tuple[int, list[str]]]:
        source = iter(table.rows)
        done = 0
        while True:
            chunk = list(itertools.islice(source, EVERY))
            if not chunk:
                return
            yield from chunk
            done += len(chunk)
            progress(done)

    return Table(table.header, rows(), table.encoding)


def check_file(f: ImportFile, *, today: dt.date, progress: Progress = lambda n: None) -> Checked:
    """The file's own checks (no database). Raises FileRefused."""
    if f.kind == "marc":
        return check_marc(f.data, f.profile, progress)
    table = _counted(read_table(f.data), progress)
    if f.kind == "items":
        return check_items(table)
    if f.kind == "readers":
        return check_readers(table, today=today)
    raise FileRefused("not_table", f"unknown import kind {f.kind!r}")


def dry_run(db: Database, f: ImportFile, *, today: dt.date,
            progress: Progress = lambda n: None) -> Checked:
    """Every error the import would meet; nothing is written. Raises FileRefused."""
    checked = check_file(f, today=today, progress=progress)
    with db.read() as conn:
        store.check_against_db(conn, checked)
    return checked


class ImportBlocked(Exception):
    """The commit found errors (the database changed since the dry run): nothing written."""

    def __init__(self, checked: Checked) -> None:
        super().__init__(f"{len(checked.errors)} errors")
        self.checked = checked


def commit(db: Database, f: ImportFile, *, now: dt.datetime, schedule: FeeSchedule,
           staff_no: str, progress: Progress = lambda n: None, job_id: str = "") -> dict[str, int]:
    """Check the file again and write every row in one transaction, audited; the counts.
    Raises FileRefused, ImportBlocked (nothing written) or the database's error (rolled back)."""
    if f.kind == "items":
        return _commit_items(db, f, now=now, staff_no=staff_no, progress=progress,
                             job_id=job_id)
    checked = check_file(f, today=now.date())
    if checked.errors:
        raise ImportBlocked(checked)
    with db.write() as conn:
        store.check_against_db(conn, checked)
        if checked.errors:
            raise ImportBlocked(checked)
        if f.kind == "readers":
            readers, cards = store.write_readers(conn, checked.readers, now=now,
                                                 schedule=schedule, progress=progress)
            counts = {"readers": readers, "cards": cards}
        else:
            counts = {"items": store.write_items(conn, checked.items, progress)}
        _done(conn, f, now=now, staff_no=staff_no, job_id=job_id, counts=counts,
              rows=checked.rows)
    log.info("import %s of %s by %s: %s", f.kind, f.file_name, staff_no, counts)
    return counts


def _commit_items(db: Database, f: ImportFile, *, now: dt.datetime, staff_no: str,
                  progress: Progress, job_id: str) -> dict[str, int]:
    """Items from a table: each batch checked and written while the next is read (the
    database works while Python checks), in one transaction rolled back at any error."""
    table = read_table(f.data)
    with db.write() as conn:
        written, errors = store.write_item_batches(conn, iter_items(table), progress)
        if errors:
            raise ImportBlocked(Checked(errors=errors, encoding=table.encoding))
        counts = {"items": written}
        _done(conn, f, now=now, staff_no=staff_no, job_id=job_id, counts=counts, rows=written)
    log.info("import %s of %s by %s: %s", f.kind, f.file_name, staff_no, counts)
    return counts


def _done(conn: Connection, f: ImportFile, *, now: dt.datetime, staff_no: str, job_id: str,
          counts: dict[str, int], rows: int) -> None:
    """The audit row and the job's end, in the import's own transaction."""
    audit.record(conn, staff_no=staff_no, action=f"import.{f.kind}", now=now,
                 target=f.file_name[:64], after={"file": f.file_name, "job": job_id, **counts})
    if job_id:
        _set(conn, job_id, status="done", done=rows, counts=json.dumps(counts),
             finished_at=now.isoformat())


# ---- jobs in the database -----------------------------------------------------------------


def _set(conn: Connection, job_id: str, **values: Any) -> None:
    conn.execute(update(m.import_jobs).where(m.import_jobs.c.job_id == job_id).values(**values))


def upload_dir(data_dir: Path) -> Path:
    path = data_dir / "imports"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def create_job(db: Database, f: ImportFile, *, staff_no: str, now: dt.datetime,
               data_dir: Path) -> str:
    """A new job (``checking``) with its file kept until the job needs it no more."""
    job_id = secrets.token_hex(8)
    (upload_dir(data_dir) / job_id).write_bytes(f.data)
    options = {"flavour": f.profile.flavour, "barcode_field": f.profile.barcode_field,
               "call_no_field": f.profile.call_no_field}
    with db.write() as conn:
        conn.execute(m.import_jobs.insert().values(
            job_id=job_id, kind=f.kind, file_name=f.file_name[:200], staff_no=staff_no,
            status="checking", total=estimate_rows(f), done=0, options=json.dumps(options),
            created_at=now.isoformat()))
    return job_id


def job(conn: Connection, job_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(m.import_jobs).where(m.import_jobs.c.job_id == job_id)).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["errors"] = json.loads(out["errors"])
    out["counts"] = json.loads(out["counts"])
    return out


def recent(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    c = m.import_jobs.c
    return [dict(r._mapping) for r in conn.execute(
        select(c.job_id, c.kind, c.file_name, c.staff_no, c.status, c.good_rows, c.error_count,
               c.created_at).order_by(c.created_at.desc()).limit(limit))]


def progress_of(db: Database, job_id: str) -> dict[str, Any] | None:
    """The job's status and progress: this process's live figures first, else the database's."""
    live = LIVE.get(job_id)
    if live is not None:
        return {"status": live[0], "done": live[1], "total": live[2]}
    with db.read() as conn:
        row = conn.execute(select(m.import_jobs.c.status, m.import_jobs.c.done,
                                  m.import_jobs.c.total)
                           .where(m.import_jobs.c.job_id == job_id)).first()
    return None if row is None else {"status": row.status, "done": row.done, "total": row.total}


def _file_of(conn: Connection, job_id: str, data_dir: Path) -> ImportFile:
    row = job(conn, job_id)
    if row is None:
        raise KeyError(job_id)
    options = json.loads(conn.execute(select(m.import_jobs.c.options).where(
        m.import_jobs.c.job_id == job_id)).scalar_one())
    return ImportFile(row["kind"], row["file_name"], (upload_dir(data_dir) / job_id).read_bytes(),
                      MarcProfile(options.get("flavour") or "auto", options.get("barcode_field"),
                                  options.get("call_no_field")))


def _reporter(db: Database, job_id: str, status: str, total: int) -> Progress:
    def report(done: int) -> None:
        LIVE[job_id] = (status, done, total)
        if not db.is_sqlite:  # SQLite's one writer is the import itself while it writes
            with db.write() as conn:
                _set(conn, job_id, done=done)

    return report


def run_check(db: Database, job_id: str, *, clock: Clock, data_dir: Path) -> None:
    """The dry run of a job: ``checked`` (with its errors) or ``refused`` (the file)."""
    path = upload_dir(data_dir) / job_id
    try:
        with db.read() as conn:
            f = _file_of(conn, job_id, data_dir)
        total = estimate_rows(f)
        checked = dry_run(db, f, today=clock.now().date(),
                          progress=_reporter(db, job_id, "checking", total))
    except FileRefused as err:
        path.unlink(missing_ok=True)
        with db.write() as conn:
            _set(conn, job_id, status="refused", reason=f"{err.reason}|{err.detail}"[:300],
                 finished_at=clock.now().isoformat())
        return
    except Exception as err:
        log.exception("import %s: the dry run failed", job_id)
        path.unlink(missing_ok=True)
        with db.write() as conn:
            _set(conn, job_id, status="failed", reason=f"error|{type(err).__name__}",
                 finished_at=clock.now().isoformat())
        return
    finally:
        LIVE.pop(job_id, None)
    if checked.errors:
        path.unlink(missing_ok=True)
    with db.write() as conn:
        _set(conn, job_id, status="checked", done=checked.rows + len(checked.errors),
             total=checked.rows + len(checked.errors), good_rows=checked.rows,
             error_count=len(checked.errors), encoding=checked.encoding,
             errors=json.dumps([e.to_dict() for e in checked.errors[:MAX_LISTED_ERRORS]],
                               ensure_ascii=False))


def run_commit(db: Database, job_id: str, *, clock: Clock, data_dir: Path,
               schedule: FeeSchedule) -> None:
    """The commit of a checked job: ``done`` (counts) or ``failed`` (nothing written)."""
    path = upload_dir(data_dir) / job_id
    try:
        with db.read() as conn:
            f = _file_of(conn, job_id, data_dir)
            staff_no = str(job(conn, job_id)["staff_no"])  # type: ignore[index]
            total = int(job(conn, job_id)["good_rows"])  # type: ignore[index]
        commit(db, f, now=clock.now(), schedule=schedule, staff_no=staff_no, job_id=job_id,
               progress=_reporter(db, job_id, "writing", total))
    except Exception as err:
        if not isinstance(err, (FileRefused, ImportBlocked)):
            log.exception("import %s: the commit failed, nothing written", job_id)
        reason = (f"{err.reason}|{err.detail}" if isinstance(err, FileRefused)
                  else f"blocked|{err}" if isinstance(err, ImportBlocked)
                  else f"error|{type(err).__name__}")
        errors = err.checked.errors if isinstance(err, ImportBlocked) else []
        with db.write() as conn:
            _set(conn, job_id, status="failed", reason=reason[:300],
                 finished_at=clock.now().isoformat(), error_count=len(errors),
                 errors=json.dumps([e.to_dict() for e in errors[:MAX_LISTED_ERRORS]],
                                   ensure_ascii=False))
    finally:
        LIVE.pop(job_id, None)
        path.unlink(missing_ok=True)


def start(target: Callable[..., None], *args: Any, **kwargs: Any) -> threading.Thread:
    """Run ``run_check`` or ``run_commit`` in a background thread."""
    thread = threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True,
                              name=f"import-{args[1] if len(args) > 1 else ''}")
    thread.start()
    return thread


def fail_interrupted(db: Database, now: dt.datetime, data_dir: Path) -> int:
    """At the server's start: jobs left ``checking`` or ``writing`` by a process that ended
    (a commit's transaction was rolled back with it) become ``failed`` (``interrupted``), and
    their files go. Returns how many."""
    c = m.import_jobs.c
    with db.write() as conn:
        stale = [str(j) for j in conn.execute(select(c.job_id).where(
            c.status.in_(("checking", "writing")))).scalars()]
        for job_id in stale:
            _set(conn, job_id, status="failed", reason="interrupted|", finished_at=now.isoformat())
    for job_id in stale:
        (upload_dir(data_dir) / job_id).unlink(missing_ok=True)
    if stale:
        log.warning("imports interrupted by the last shutdown, marked failed: %s", stale)
    return len(stale)


def mark_writing(db: Database, job_id: str) -> bool:
    """``checked`` without errors -> ``writing``; False when the job is not in that state
    (nothing to commit, or committed already: a second click does nothing)."""
    c = m.import_jobs.c
    with db.write() as conn:
        done = conn.execute(update(m.import_jobs).where(
            c.job_id == job_id, c.status == "checked", c.error_count == 0).values(
            status="writing", done=0))
        return bool(done.rowcount)
