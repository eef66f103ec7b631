"""A thief with one kiosk's token pushes claims the server can check, over the real HTTP API
(issue 11.1). Each forged claim is refused with a named reason, the server's records stay as
they were, and the same kiosk's next honest event still applies.

The honest events come from the real kiosk use cases (``tests/support/services.py``); each forged
one is an honest envelope with the lie written into it. The thief's event takes its place in the
kiosk's sequence, so the pusher here numbers what it sends (``Pusher``).
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from kiosk.services.cards.replacement import ServerReaderPins
from kiosk.services.common import Tender
from kiosk.services.staff_auth import ServerStaffAuthority
from library_core import contract
from library_core.clock import CHINA_TZ, FixedClock
from library_core.codes import make_card_no
from library_core.pins import hash_pin
from server_client.sync import RecordServerClient
from tests.support.postgres import postgres_cluster_fixture  # noqa: F401
from tests.support.server_process import (  # noqa: F401
    ServerProcess,
    db_url_fixture,
    server_factory_fixture,
)
from tests.support.services import (
    DESK,
    SUPERVISOR,
    WECHAT_CODE,
    ServicesEnv,
    make_env,
    make_reader,
)

TABLES = ("readers", "cards", "fees", "payments", "credit_entries", "conflicts", "visits",
          "loans", "items", "staff")


class StaffKeyring:
    """The server's kiosk staff log-in (``ServerStaffAuthority``), remembering each session's
    key: the forger here is logged-in staff, who re-signs what they change, so the staff proof
    holds and the business rules are what refuse (tests/integration/test_staff_authority.py
    forges the proofs themselves)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.keys: dict[str, bytes] = {}

    def open_staff_session(self, identifier: str, pin: str) -> Any:
        grant = self.inner.open_staff_session(identifier, pin)
        self.keys[grant.session_id] = grant.session_key
        return grant

    def resign(self, event: dict[str, Any]) -> None:
        proof = event.get("staff_proof")
        if proof and proof.get("session_id") in self.keys:
            proof["mac"] = contract.event_mac(self.keys[proof["session_id"]],
                                              contract.canonical_event_bytes(event))


class Pusher:
    """One kiosk's pushes: honest events from its outbox, forged ones in between, every event
    numbered in the order sent (the thief's event takes a seq like any other)."""

    def __init__(self, server: ServerProcess, env: ServicesEnv, token: str) -> None:
        self.server, self.env, self.token = server, env, token
        self.seq = 0
        self.taken = 0  # outbox rows already handed out

    def take(self) -> list[dict[str, Any]]:
        """The kiosk's events written since the last take (its use cases' own envelopes)."""
        rows = sorted(self.env.store.pending_events(10_000), key=lambda e: e["seq"])
        new = rows[self.taken:]
        self.taken = len(rows)
        return [copy.deepcopy(e) for e in new]

    def push(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for event in events:
            self.seq += 1
            event["seq"] = self.seq
        resp = self.server.post("/api/v1/kiosks/K01/events", self.token,
                                json={"events": events})
        assert resp.status_code == 200, resp.text
        results: list[dict[str, Any]] = resp.json()["results"]
        return results

    def honest(self) -> list[dict[str, Any]]:
        """Push what the kiosk wrote since the last take; every event must apply."""
        results = self.push(self.take())
        assert [r["status"] for r in results] == ["applied"] * len(results), results
        return results


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every business table of the server's database, sorted (not the event log)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: sorted((tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}"))),
                              key=repr) for t in TABLES}
    finally:
        engine.dispose()


@pytest.fixture(name="forge")
def forge_fixture(server_factory: Callable[..., ServerProcess], db_url: str,
                  tmp_path: Path) -> Iterator[Pusher]:
    """A server whose staff match the kiosk's (S0001 desk, S0002 supervisor), kiosk K01
    enrolled, and the kiosk's services on their own store."""
    srv = server_factory(db_url)
    srv.cli("migrate")
    srv.create_staff(DESK[0], role="desk", pin=DESK[1], name="王芳")
    srv.create_staff(SUPERVISOR[0], role="supervisor", pin=SUPERVISOR[1], name="李强")
    srv.start()
    token = srv.enroll("K01")
    # the kiosk's clock reads the server's time: a reader grant is valid for minutes
    env = make_env(tmp_path / "kiosk.sqlite3",
                   clock=FixedClock(dt.datetime.now(CHINA_TZ).replace(microsecond=0)))
    env.services.cards.reader_pins = ServerReaderPins(  # PINs checked by this server
        RecordServerClient(srv.url, "K01", token, retries=0, backoff_s=0.01))
    env.services.staff.authority = StaffKeyring(ServerStaffAuthority(  # staff log-ins too
        RecordServerClient(srv.url, "K01", token, retries=0, backoff_s=0.01)))
    yield Pusher(srv, env, token)
    env.store.close()


def refused(p: Pusher, forged: dict[str, Any], reason: str) -> None:
    """``forged`` is refused with ``reason`` and changes nothing on the server."""
    forged["event_id"] = str(uuid.uuid4())  # a new event, not a copy of the honest one's id
    p.env.services.staff.authority.resign(forged)
    before = snapshot(p.server.database_url)
    result = p.push([forged])[0]
    assert (result["status"], result.get("detail")) == ("rejected", reason), result
    assert snapshot(p.server.database_url) == before


def of_kind(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(e for e in events if e["kind"] == kind)


def new_reader(p: Pusher, seq: int = 1) -> Any:
    result = p.env.new_card(seq)
    p.honest()
    return result


def open_fine(p: Pusher, reader_id: str, serial: int = 100) -> str:
    """An overdue fine the kiosk assessed at a return (the loan is on the server too)."""
    env, server = p.env, p.server
    sup = server.staff_token(SUPERVISOR[0])
    barcode = env.add_item(serial, "红楼梦")
    due = env.clock.now().date() - dt.timedelta(days=5)
    put = requests.put(f"{server.url}/api/v1/items/{barcode}", timeout=10,
                       headers={"Authorization": f"Bearer {sup}"},
                       json={"barcode": barcode, "title": "红楼梦"})
    assert put.status_code == 200, put.text
    loan_id = env.add_loan(reader_id, barcode, due_on=due)
    resp = server.post("/api/v1/loans", sup, json={
        "loan_id": loan_id, "item_barcode": barcode, "reader_id": reader_id,
        "due_on": due.isoformat()})
    assert resp.status_code == 201, resp.text
    env.services.returns.check_in(barcode)
    events = p.take()
    assert [r["status"] for r in p.push(events)] == ["applied"] * len(events)
    return str(of_kind(events, "fee.assessed")["payload"]["fee_id"])


# ---- the claims seen in the issue ------------------------------------------------------------

def test_renewal_to_2199_with_no_payment(forge: Pusher) -> None:
    new_reader(forge)
    uid, raw = forge.env.writer.tapped()
    forge.env.services.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    honest = forge.take()
    assert [e["kind"] for e in honest] == ["fee.assessed", "payment.recorded", "card.renewed"]
    renewal = of_kind(honest, "card.renewed")
    to_2199 = copy.deepcopy(renewal)
    to_2199["payload"]["expires_on"] = "2199-11-24"
    refused(forge, to_2199, "renewal_expiry_not_schedule")
    unpaid = copy.deepcopy(renewal)  # the schedule's expiry, but no fee paid for it
    refused(forge, unpaid, "renewal_not_paid")
    assert [r["status"] for r in forge.push(honest)] == ["applied"] * 3


def test_waiver_by_a_staff_number_that_does_not_exist(forge: Pusher) -> None:
    reader = new_reader(forge)
    fee_id = open_fine(forge, reader.reader_id)
    forge.env.services.staff.waive_fee(forge.env.supervisor(), fee_id, "hardship")
    honest = of_kind(forge.take(), "fee.waived")
    nobody = copy.deepcopy(honest)
    nobody["payload"]["staff_no"] = "S9999"  # the proof is the supervisor's session
    refused(forge, nobody, "staff_proof_other_staff")
    desk = copy.deepcopy(honest)  # a real member of staff, but waivers are a supervisor's
    desk["payload"]["staff_no"] = DESK[0]
    refused(forge, desk, "staff_proof_other_staff")
    desk_session = forge.env.desk()  # the desk member's own, right proof: the role refuses
    own = copy.deepcopy(desk)
    own["staff_proof"]["session_id"] = desk_session.prover.proof_id
    refused(forge, own, "staff_role_required")
    assert forge.push([honest])[0]["status"] == "applied"


def test_waiver_of_a_paid_fee(forge: Pusher) -> None:
    reader = new_reader(forge)
    paid_fee = forge.env.store.read("SELECT fee_id FROM fees WHERE status = 'paid'"
                                    " AND reader_id = ?", (reader.reader_id,))[0]
    fee_id = open_fine(forge, reader.reader_id)
    forge.env.services.staff.waive_fee(forge.env.supervisor(), fee_id, "hardship")
    honest = of_kind(forge.take(), "fee.waived")
    forged = copy.deepcopy(honest)
    forged["payload"]["fee_id"] = paid_fee[0]
    refused(forge, forged, "fee_already_paid")
    assert forge.push([honest])[0]["status"] == "applied"


def _cancel(forge: Pusher) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    reader = new_reader(forge)
    forge.env.services.staff.refund_deposit_and_cancel(forge.env.supervisor(), reader.reader_id,
                                                       "moving away")
    events = forge.take()
    assert [e["kind"] for e in events] == ["card.blocked", "card.cancelled", "deposit.refunded"]
    return events[:2], events[2]


def test_deposit_refund_of_99999_yuan_99(forge: Pusher) -> None:
    cancel, refund = _cancel(forge)
    early = copy.deepcopy(refund)  # the real amount, but the card is not cancelled yet
    refused(forge, early, "card_not_cancelled")
    assert [r["status"] for r in forge.push(cancel)] == ["applied"] * 2
    huge = copy.deepcopy(refund)
    huge["payload"]["amount"] = 9_999_999
    refused(forge, huge, "refund_exceeds_deposit")
    assert forge.push([refund])[0]["status"] == "applied"
    again = copy.deepcopy(refund)  # the deposit paid back once is not there to pay back again
    again["payload"].update(payment_id="deposit-back-again", receipt_no="K01-20261124-0099")
    refused(forge, again, "refund_exceeds_deposit")


def test_card_cancelled_by_a_self_service_kiosk(forge: Pusher) -> None:
    (block, cancel), refund = _cancel(forge)
    self_block = copy.deepcopy(block)
    self_block["payload"]["staff_no"] = None
    refused(forge, self_block, "staff_required")
    self_cancel = copy.deepcopy(cancel)
    del self_cancel["payload"]["staff_no"]
    self_cancel["event_id"] = str(uuid.uuid4())
    before = snapshot(forge.server.database_url)
    result = forge.push([self_cancel])[0]
    assert result["status"] == "rejected" and result["detail"].startswith(
        "invalid_payload: staff_no")
    assert snapshot(forge.server.database_url) == before
    desk = copy.deepcopy(cancel)
    desk["payload"]["staff_no"] = DESK[0]
    refused(forge, desk, "staff_proof_other_staff")  # the proof is the supervisor's session
    desk["staff_proof"]["session_id"] = forge.env.desk().prover.proof_id  # the desk's own
    refused(forge, desk, "staff_role_required")
    assert [r["status"] for r in forge.push([block, cancel, refund])] == ["applied"] * 3


def test_payment_with_nothing_allocated(forge: Pusher) -> None:
    new_reader(forge)
    forge.env.new_card(2)
    events = forge.take()
    payment = of_kind(events, "payment.recorded")
    at = events.index(payment)  # the card's fees before it, the card after (it needs them paid)
    assert [r["status"] for r in forge.push(events[:at])] == ["applied"] * at
    nothing = copy.deepcopy(payment)
    nothing["payload"]["allocations"] = []
    refused(forge, nothing, "payment_allocates_nothing")
    short = copy.deepcopy(payment)  # money claimed beyond what it pays for
    short["payload"]["amount"] += 50_000
    refused(forge, short, "allocations_do_not_match_amount")
    assert [r["status"] for r in forge.push(events[at:])] == ["applied"] * (len(events) - at)


def _replacement(forge: Pusher) -> tuple[Any, Any, dict[str, Any], list[dict[str, Any]]]:
    a = new_reader(forge, 1)
    b = new_reader(forge, 2)
    services = forge.env.services
    auth = services.cards.verify_reader(make_reader(1).id_number, make_reader(1).pin)
    forge.env.writer.place_blank()
    services.cards.replace(auth, Tender.payment_code(WECHAT_CODE))
    events = forge.take()
    replaced = of_kind(events, "card.replaced")
    rest = [e for e in events if e is not replaced]
    return a, b, replaced, rest


def test_another_readers_card_replaced_onto_a_different_reader(forge: Pusher) -> None:
    a, b, replaced, rest = _replacement(forge)
    assert [r["status"] for r in forge.push(rest)] == ["applied"] * len(rest)  # block, fee, pay
    onto_b = copy.deepcopy(replaced)
    onto_b["payload"]["reader_id"] = b.reader_id
    refused(forge, onto_b, "card_not_of_reader")
    assert forge.push([replaced])[0]["status"] == "applied"


def test_generation_jump_on_replacement(forge: Pusher) -> None:
    _, _, replaced, rest = _replacement(forge)
    assert [r["status"] for r in forge.push(rest)] == ["applied"] * len(rest)
    jump = copy.deepcopy(replaced)
    jump["payload"]["generation"] = 7
    refused(forge, jump, "generation_not_next")
    longer = copy.deepcopy(replaced)  # a replacement buys a card, not time
    longer["payload"]["expires_on"] = "2035-01-01"
    refused(forge, longer, "replacement_extends_expiry")
    assert forge.push([replaced])[0]["status"] == "applied"
    twice = copy.deepcopy(replaced)
    twice["payload"]["card_no"] = make_card_no(10**8 + 998)  # K01's range, not used yet
    refused(forge, twice, "card_already_replaced")


# ---- a thief's own ideas ---------------------------------------------------------------------

def test_credit_never_goes_below_zero(forge: Pusher) -> None:
    reader = new_reader(forge)
    open_fine(forge, reader.reader_id)
    forge.env.services.fees.pay(reader.reader_id, Tender.payment_code(WECHAT_CODE))
    payment = of_kind(forge.take(), "payment.recorded")
    on_credit = copy.deepcopy(payment)
    on_credit["payload"]["method"] = "credit"  # the reader holds no credit
    del on_credit["payload"]["transaction_id"]  # (credit is no provider's trade: trades.py)
    refused(forge, on_credit, "credit_insufficient")
    assert forge.push([payment])[0]["status"] == "applied"


def test_renewal_of_a_blocked_card_with_no_payment(forge: Pusher) -> None:
    new_reader(forge)
    uid, raw = forge.env.writer.tapped()
    forge.env.services.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    renewal = forge.take()  # made offline, before the card was reported lost
    services = forge.env.services
    services.cards.report_lost(services.cards.verify_reader(make_reader(1).id_number,
                                                            make_reader(1).pin))
    forge.honest()
    refused(forge, copy.deepcopy(renewal[-1]), "renewal_not_paid")
    results = forge.push(renewal)  # paid: the block still wins and the fee is credited
    assert [r["status"] for r in results] == ["applied", "applied", "conflict"]
    assert results[-1]["rule"] == "card_block_beats_offline_renewal"


def test_event_dated_far_in_the_future(forge: Pusher) -> None:
    new_reader(forge)
    forge.env.clock.advance(minutes=1)
    forge.env.services.cards.identify_card(*forge.env.writer.tapped(), allow_expired=True)
    uid, raw = forge.env.writer.tapped()
    forge.env.services.cards.renew(uid, raw, 12, Tender.payment_code(WECHAT_CODE))
    honest = forge.take()
    future = copy.deepcopy(honest[0])
    future["occurred_at"] = (dt.datetime.now(dt.UTC) + dt.timedelta(days=400)).isoformat()
    refused(forge, future, "occurred_in_future")
    assert [r["status"] for r in forge.push(honest)] == ["applied"] * 3


def test_weak_or_malformed_pin_hash_is_not_stored(forge: Pusher) -> None:
    forge.env.new_card(1)
    events = forge.take()
    registered = events[0]
    assert registered["kind"] == "reader.registered"
    weak = copy.deepcopy(registered)
    weak["payload"]["pin_hash"] = hash_pin("246813", n=8)  # below the server's minimum (16 here)
    refused(forge, weak, "pin_hash_too_weak")
    short_salt = copy.deepcopy(registered)
    short_salt["payload"]["pin_hash"] = hash_pin("246813", n=1 << 4, salt=b"1234")
    refused(forge, short_salt, "pin_hash_too_weak")
    garbage = copy.deepcopy(registered)
    garbage["payload"]["pin_hash"] = "scrypt$16$8$1$zz$00"
    refused(forge, garbage, "pin_hash_malformed")
    assert [r["status"] for r in forge.push(events)] == ["applied"] * len(events)


def _lost_report(forge: Pusher, seq: int) -> dict[str, Any]:
    """The kiosk's own lost-card block for reader ``seq`` (ID number + PIN checked by the
    server, which gave the kiosk a grant for that reader)."""
    services = forge.env.services
    reader = make_reader(seq)
    services.cards.report_lost(services.cards.verify_reader(reader.id_number, reader.pin))
    return of_kind(forge.take(), "card.blocked")


def test_any_readers_card_reported_lost_with_a_kiosk_token(forge: Pusher) -> None:
    new_reader(forge, 1)
    b = new_reader(forge, 2)
    block_a = _lost_report(forge, 1)
    assert str(block_a["payload"]["reader_grant"]).startswith("rg_")
    b_card = forge.env.store.read_one("SELECT card_no FROM cards WHERE reader_id = ?",
                                      (b.reader_id,))[0]
    no_grant = copy.deepcopy(block_a)  # B never came to the kiosk: the thief has no grant
    no_grant["payload"].update(card_no=b_card, reader_id=b.reader_id, reader_grant=None)
    refused(forge, no_grant, "reader_grant_missing")
    a_grant = copy.deepcopy(no_grant)  # A's grant does not block B's card
    a_grant["payload"]["reader_grant"] = block_a["payload"]["reader_grant"]
    refused(forge, a_grant, "reader_grant_unknown")
    made_up = copy.deepcopy(block_a)
    made_up["payload"]["reader_grant"] = "rg_" + "A" * 32
    refused(forge, made_up, "reader_grant_unknown")
    late = copy.deepcopy(block_a)  # a grant is for minutes, not for later
    late["occurred_at"] = (dt.datetime.fromisoformat(block_a["occurred_at"])
                           + dt.timedelta(minutes=30)).isoformat()
    refused(forge, late, "reader_grant_expired")
    assert forge.push([block_a])[0]["status"] == "applied"


def test_a_grant_works_only_at_the_kiosk_it_was_given_to(forge: Pusher) -> None:
    new_reader(forge, 1)
    block = _lost_report(forge, 1)
    other = forge.server.enroll("K02")
    block["seq"] = 1
    block["kiosk_id"] = "K02"
    resp = forge.server.post("/api/v1/kiosks/K02/events", other, json={"events": [block]})
    assert resp.status_code == 200, resp.text
    result = resp.json()["results"][0]
    assert (result["status"], result.get("detail")) == ("rejected", "reader_grant_unknown")


def test_replacement_with_no_reader_grant(forge: Pusher) -> None:
    _, _, replaced, rest = _replacement(forge)
    assert [r["status"] for r in forge.push(rest)] == ["applied"] * len(rest)
    no_grant = copy.deepcopy(replaced)
    no_grant["payload"]["reader_grant"] = None
    refused(forge, no_grant, "reader_grant_missing")
    assert forge.push([replaced])[0]["status"] == "applied"
