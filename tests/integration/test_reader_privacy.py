"""Kiosks hold the least they need (issue 11.3, readers), through the real record server process
and a real kiosk sync client: a pull carries no reader's ID number, phone or PIN hash, the
kiosk's store holds none after a pull and after a new card synced, and a replacement's PIN is
checked by the server (ok, wrong with attempts left, locked after five; offline refused)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kiosk.services.cards.replacement import ServerReaderPins
from kiosk.services.common import Tender
from kiosk.services.errors import PinLocked, PinWrong, ReplacementOffline
from library_core.errors import NotFound
from library_core.i18n import translate
from library_core.identity import id_number_hash, mask_mobile, mask_resident_id
from server_client.sync import RecordServerClient, SyncEngine
from tests.support.server_process import ServerProcess, server_factory_fixture  # noqa: F401
from tests.support.services import (
    TEST_KEY,
    WECHAT_CODE,
    ServicesEnv,
    make_env,
    make_reader,
)

READERS = (1, 2, 3)


def _client(server: ServerProcess, token: str) -> RecordServerClient:
    return RecordServerClient(server.url, "K01", token, retries=0, backoff_s=0.01)


def _online(tmp_path: Path, server_factory: Any) -> tuple[ServerProcess, str, ServicesEnv,
                                                          dict[int, str]]:
    """A server, kiosk K01 that issued cards to READERS and synced; returns the readers' PIN
    hashes as their registrations carried them."""
    server = server_factory()
    server.cli("migrate")
    server.start()
    token = server.enroll("K01")
    env = make_env(tmp_path / "k01.sqlite3")
    hashes = {}
    for seq in READERS:
        env.new_card(seq)
        row = env.store.read_one("SELECT payload FROM outbox WHERE kind = 'reader.registered'"
                                 " ORDER BY seq DESC LIMIT 1")
        hashes[seq] = json.loads(row[0])["pin_hash"]
    client = _client(server, token)
    env.services.cards.reader_pins = ServerReaderPins(client)
    report = SyncEngine(env.store, client, clock=env.clock).sync_once()
    assert env.store.pending_count() == 0, report
    return server, token, env, hashes


def _secrets(hashes: dict[int, str]) -> list[str]:
    out = ["pin_hash", "scrypt$"]
    for seq in READERS:
        reader = make_reader(seq)
        out += [reader.id_number, reader.phone, hashes[seq]]
    return out


def _dump(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def _reader_dump(path: Path) -> str:
    """The store's dump without the staff table (staff PIN hashes are the staff-authority
    step's, not this one's)."""
    return "\n".join(line for line in _dump(path).splitlines()
                     if not line.startswith('INSERT INTO "staff"'))


def test_a_full_pull_holds_no_reader_number_phone_or_pin_hash(
        tmp_path: Path, server_factory: Any) -> None:  # noqa: F811
    server, token, env, hashes = _online(tmp_path, server_factory)
    # every page, as the kiosk's token gets it, raw
    cursor, pages, raw = 0, 0, []
    while True:
        resp = server.get("/api/v1/kiosks/K01/changes", token,
                          params={"cursor": cursor, "limit": 2})
        assert resp.status_code == 200
        raw.append(resp.text)
        body = resp.json()
        cursor, pages = body["next_cursor"], pages + 1
        if not body["more"]:
            break
    assert pages > 2
    readers = [c["data"] for text in raw for c in json.loads(text)["changes"]
               if c["entity"] == "reader"]
    assert len(readers) == len(READERS)
    reader_text = json.dumps(readers, ensure_ascii=False)
    for secret in _secrets(hashes):
        assert secret not in reader_text, secret
    for text in raw:  # staff rows still carry theirs (the staff-authority step)
        for seq in READERS:
            r = make_reader(seq)
            assert r.id_number not in text and r.phone not in text and hashes[seq] not in text
    by_hash = {d["id_hash"]: d for d in readers}
    for seq in READERS:
        r = make_reader(seq)
        row = by_hash[id_number_hash(r.id_number, TEST_KEY)]
        assert (row["id_masked"], row["phone_masked"]) == (mask_resident_id(r.id_number),
                                                          mask_mobile(r.phone))
        assert "id_number" not in row and "phone" not in row and "pin_hash" not in row

    # the issuing kiosk's store, after its new cards synced (pushed, answered, pulled back)
    for secret in _secrets(hashes)[2:]:
        assert secret not in _reader_dump(env.store.path), secret
    assert env.store.path.read_bytes().find(make_reader(1).id_number.encode()) == -1
    # a new kiosk building its replica from zero
    fresh = make_env(tmp_path / "fresh.sqlite3")
    client = _client(server, token)
    SyncEngine(fresh.store, client, clock=fresh.clock).pull_all()
    assert fresh.store.count("readers") == len(READERS)
    dump = _reader_dump(fresh.store.path)
    for secret in _secrets(hashes)[2:]:
        assert secret not in dump, secret
    assert "scrypt$" not in dump  # no PIN hash of any reader (staff rows left out above)
    columns = {r[1] for r in fresh.store.read("PRAGMA table_info(readers)")}
    assert columns.isdisjoint({"id_number", "phone", "pin_hash"})
    # and it still knows the same person: a second card for reader 1 is refused
    from kiosk.services.errors import ReaderExists
    with pytest.raises(ReaderExists):
        fresh.services.cards.check_new_reader(make_reader(1).id_number)
    fresh.services.cards.check_new_reader(make_reader(9).id_number)


def test_replacement_pin_is_checked_by_the_server(tmp_path: Path,
                                                   server_factory: Any) -> None:  # noqa: F811
    server, token, env, _ = _online(tmp_path, server_factory)
    cards = env.services.cards
    one, two = make_reader(1), make_reader(2)
    # right PIN: the replacement goes through
    auth = cards.verify_reader(one.id_number, one.pin)
    env.writer.place_blank()
    result = cards.replace(auth, Tender.payment_code(WECHAT_CODE))
    assert result.generation == 2
    # wrong PINs: attempts left, then locked after five, the right PIN too while locked
    for left in (4, 3, 2, 1):
        with pytest.raises(PinWrong) as wrong:
            cards.verify_reader(two.id_number, "975310")
        assert wrong.value.params["attempts_left"] == left
    with pytest.raises(PinLocked) as locked:
        cards.verify_reader(two.id_number, "975310")
    assert locked.value.params["minutes"] >= 1
    with pytest.raises(PinLocked):
        cards.verify_reader(two.id_number, two.pin)
    # the kiosk counted nothing itself: the server holds the count
    assert "pin_failures" not in [r[1] for r in env.store.read("PRAGMA table_info(readers)")]

    # offline: refused with the message, nothing changes
    server.terminate()
    before = env.snapshot()
    with pytest.raises(ReplacementOffline) as offline:
        cards.verify_reader(make_reader(3).id_number, make_reader(3).pin)
    assert env.snapshot() == before
    for lang, words in (("en", "needs the network"), ("zh_CN", "补卡需要联网")):
        assert words in translate(offline.value.message_id, lang)


def test_the_reader_pin_endpoint_refuses_forged_readers_and_hostile_bodies(
        tmp_path: Path, server_factory: Any) -> None:  # noqa: F811
    server, token, env, _ = _online(tmp_path, server_factory)
    reader_id = env.store.read_one("SELECT reader_id FROM readers ORDER BY registered_at")[0]
    one = make_reader(1)
    other_id = make_reader(2).id_number
    path = "/api/v1/kiosks/K01/reader-pin"

    def post(body: Any, tok: str | None = token, where: str = path) -> Any:
        return server.post(where, tok, json=body)

    ok = post({"reader_id": reader_id, "id_number": one.id_number, "pin": one.pin}).json()
    assert ok.pop("grant").startswith("rg_") and ok == {
        "result": "ok", "attempts_left": 0, "minutes": 0}
    # a forged or unknown reader, or another person's ID number: 404, nothing counted
    for body in ({"reader_id": "forged-reader", "id_number": one.id_number, "pin": one.pin},
                 {"reader_id": reader_id, "id_number": other_id, "pin": "975310"}):
        resp = post(body)
        assert resp.status_code == 404 and "no active reader" in resp.json()["detail"]
    wrong = post({"reader_id": reader_id, "id_number": one.id_number, "pin": "975310"}).json()
    assert wrong == {"result": "wrong", "attempts_left": 4, "minutes": 0,
                     "grant": ""}  # the 404s counted 0; no grant without the PIN
    # hostile bodies: refused with the field, nothing counted
    for body in ({"reader_id": reader_id, "id_number": one.id_number, "pin": "12345a"},
                 {"reader_id": reader_id, "id_number": one.id_number, "pin": one.pin, "x": 1},
                 {"reader_id": "r' OR 1=1 --", "id_number": one.id_number, "pin": one.pin},
                 {"reader_id": reader_id, "id_number": one.id_number + "0", "pin": one.pin},
                 {"reader_id": reader_id, "pin": one.pin}, ["not", "an", "object"]):
        assert post(body).status_code == 422, body
    # no token, another kiosk's path, a staff token
    good = {"reader_id": reader_id, "id_number": one.id_number, "pin": one.pin}
    assert post(good, tok=None).status_code == 401
    assert post(good, where="/api/v1/kiosks/K02/reader-pin").status_code == 403
    server.create_staff("S0009")
    assert post(good, tok=server.staff_token("S0009")).status_code == 403
    again = post({"reader_id": reader_id, "id_number": one.id_number, "pin": "975310"}).json()
    assert again["attempts_left"] == 3  # only the one wrong PIN before counted
    # the answer is kiosk-bound: a client that lies about the PIN gets nothing for it
    with pytest.raises(NotFound):
        _client(server, token).verify_reader_pin("forged-reader", one.id_number, one.pin)


def test_a_visitors_phone_and_id_number_leave_the_kiosk_once_pushed(
        tmp_path: Path, server_factory: Any) -> None:  # noqa: F811
    """A visitor registered at the kiosk (with the optional ID number): the kiosk shows and keeps
    the masked forms only; the clear values reach the server in visit.opened and leave the
    outbox once it is answered, so the store file holds them nowhere."""
    from kiosk.services.visitors import VisitorRequest

    server, token, env, _ = _online(tmp_path, server_factory)
    phone, id_number = "13912345678", make_reader(7).id_number
    result = env.services.visitors.register(VisitorRequest(
        name="访客王", phone=phone, purpose="reading", host_department="office", consent=True,
        id_number=id_number))
    assert result.visit.phone_masked == mask_mobile(phone)
    row = env.store.read_one("SELECT phone, id_number FROM visitors")
    assert tuple(row) == (mask_mobile(phone), mask_resident_id(id_number))
    roster = env.services.visitors.roster()
    assert [v.phone_masked for v in roster] == [mask_mobile(phone)]
    waiting = env.store.read_one("SELECT payload FROM outbox WHERE kind = 'visit.opened'")[0]
    assert phone in waiting and id_number in waiting  # what the server needs, until answered
    report = SyncEngine(env.store, _client(server, token), clock=env.clock).sync_once()
    assert env.store.pending_count() == 0, report
    dump = _dump(env.store.path)
    assert phone not in dump and id_number not in dump
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("k01"))
    assert phone.encode() not in raw and id_number.encode() not in raw
