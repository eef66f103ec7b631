"""Imported catalogue at a real kiosk (issue 12 point 9, acceptance): MARC files, one ISO 2709
(MARC 21) and one MARCXML (CNMARC), with Chinese titles, are imported into the real record
server process (``record-server import-items``, the console's own code); a reader the kiosk
issued borrows two of the copies at the desk (the server's loans API); after one sync the
kiosk's return service checks both in with their titles, knows the copy not on loan, and the
returns reach the server on the next push.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from kiosk.services.returns import ReturnOutcome
from library_core.clock import CHINA_TZ, FixedClock
from library_core.codes import make_item_barcode
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.console_browser import start_console_server
from tests.support.import_files import cnmarc_record, iso2709, marc21_record, marcxml
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import make_env


def test_imported_marc_items_are_found_by_a_kiosk_return(
        tmp_path: Path, server_factory: Callable[..., ServerProcess]) -> None:  # noqa: F811
    server = start_console_server(server_factory)  # S0001 is a supervisor
    now = dt.datetime.now(CHINA_TZ).replace(microsecond=0)
    env = make_env(tmp_path / "kiosk.sqlite3", clock=FixedClock(now))
    engine = SyncEngine(env.store, RecordServerClient(server.url, "K01", server.enroll("K01"),
                                                      retries=1, backoff_s=0.01),
                        clock=env.clock)
    issued = env.new_card(1)
    engine.sync_once()
    assert env.store.pending_count() == 0

    b = [make_item_barcode(n) for n in (8101, 8102, 8103)]
    (tmp_path / "books.mrc").write_bytes(iso2709([
        marc21_record("红楼梦", "曹雪芹", [b[0], b[2]], "I242.4/1")]))
    (tmp_path / "books.xml").write_bytes(marcxml([cnmarc_record("西游记", "吴承恩", [b[1]])]))
    assert server.cli("import-items", str(tmp_path / "books.mrc")).startswith("imported 2 items")
    assert server.cli("import-items", str(tmp_path / "books.xml"),
                      "--marc", "cnmarc").startswith("imported 1 items")

    staff = server.staff_token("S0001")
    for n, barcode in enumerate(b[:2]):
        resp = server.post("/api/v1/loans", staff, json={
            "loan_id": f"loan-import-{n}", "item_barcode": barcode,
            "reader_id": issued.reader_id, "due_on": (now.date() + dt.timedelta(days=14)).isoformat()})
        assert resp.status_code == 201, resp.text
    engine.sync_once()  # the kiosk pulls the imported items and the loans

    returns = env.services.returns
    first, second = returns.check_in(b[0]), returns.check_in(b[1])
    assert (first.outcome, first.title) == (ReturnOutcome.RETURNED, "红楼梦")
    assert (second.outcome, second.title) == (ReturnOutcome.RETURNED, "西游记")
    shelf = returns.check_in(b[2])  # imported, never lent: known, not on loan
    assert (shelf.outcome, shelf.title) == (ReturnOutcome.NOT_ON_LOAN, "红楼梦")
    assert returns.check_in(make_item_barcode(8199)).outcome is ReturnOutcome.UNKNOWN_ITEM

    engine.sync_once()
    assert env.store.pending_count() == 0
    db = create_engine(server.database_url)
    try:
        with db.connect() as conn:
            rows = conn.execute(text("SELECT item_barcode, returned_at FROM loans "
                                     "WHERE loan_id LIKE 'loan-import-%' ORDER BY loan_id")).all()
            statuses = dict(conn.execute(text(
                "SELECT barcode, status FROM items WHERE barcode IN (:a, :b, :c)"),
                {"a": b[0], "b": b[1], "c": b[2]}).all())
    finally:
        db.dispose()
    assert [r.item_barcode for r in rows] == b[:2] and all(r.returned_at for r in rows)
    assert statuses == {b[0]: "available", b[1]: "available", b[2]: "available"}
    env.store.close()
