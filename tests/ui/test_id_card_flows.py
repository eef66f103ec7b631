"""New card, replacement and visitor registration from the resident ID card, under Xvfb: touches
on the real widgets, the card from the simulated ID-card reader (or, for the photo check, the
serial driver on a real pty to the virtual GA 467 reader); assertions on the screen, the store
and the outbox."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kiosk.ui.widgets import DigitEntry, KButton, NameEntry
from library_core import i18n
from library_core.identity import id_number_hash, mask_resident_id
from tests.support.kivy_app import kiosk_session, kiosk_ui  # noqa: F401
from tests.support.virtual_id_reader import (  # noqa: F401
    PHOTO_MARKER,
    VirtualIdCard,
    VirtualIdReader,
    virtual_id_reader,
)
from tests.support.xvfb import xvfb_display  # noqa: F401
from tests.ui.helpers import (
    READER_PIN,
    WECHAT_CODE,
    id_card_of,
    issue_card,
    make_id,
    place_id_card,
)

pytestmark = pytest.mark.ui


def _registration(d: Any, id_number: str) -> dict[str, Any]:
    rows = [json.loads(r["payload"]) for r in d.parts.store.read(
        "SELECT payload FROM outbox WHERE kind = 'reader.registered' ORDER BY seq")]
    [payload] = [p for p in rows if p["id_number"] == id_number]
    return payload


def _phone_pin_pay_card(d: Any, uid: bytes, *, paid: bool = True) -> None:
    d.type_digits("13812345678")
    d.press(key="nav.next")
    d.type_digits(READER_PIN)
    d.press(key="nav.next")
    d.type_digits(READER_PIN)
    d.press(key="nav.next")
    if paid:
        d.scan(WECHAT_CODE)
    else:
        d.press(key="nav.next")  # nothing to pay: the summary's next
    assert d.app.screen.waiting_for == "blank_card", d.app.screen.error
    d.tap_card(uid)
    assert d.app.sm.current == "receipt", d.app.screen.error


def test_new_card_from_the_id_card_fills_and_locks_the_identity(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    d.press(key="home.new_card")
    assert d.app.screen.waiting_for == "id_card"
    assert i18n.translate("id_card.prompt.place", "zh_CN") in d.texts()
    # self-service: nothing to type, and no way to type it
    assert not d.find_all(key="idcard.type_by_hand")
    assert not d.find_all(cls=NameEntry) and not d.find_all(cls=DigitEntry)
    card = id_card_of("欧阳娜娜", make_id(331))
    place_id_card(d, card)

    shown = d.texts()
    assert card.name in shown and mask_resident_id(card.id_number) in shown
    assert card.birth_date.isoformat() in shown
    assert card.id_number not in shown  # masked on screen
    assert i18n.translate("idcard.locked", "zh_CN") in shown
    # locked: the step has nothing that edits them, back returns to the ID card, not a form
    assert not d.find_all(cls=NameEntry) and not d.find_all(cls=DigitEntry)
    assert {b.key for b in d.find_all(cls=KButton) if b.key} == {
        "nav.next", "nav.back", "nav.cancel", "voice.repeat"}  # and the header's speaker
    d.press(key="nav.back")
    assert d.app.screen.waiting_for == "id_card"
    place_id_card(d, card)
    d.press(key="nav.next")
    # 14 to 59: the reader chooses adult or student
    assert [b.choice for b in d.app.screen.choices] == ["adult", "student"]
    d.tap(d.app.screen.choices[1])
    _phone_pin_pay_card(d, b"\x04\xd1\x00\x01")

    reader = d.parts.store.read_one("SELECT * FROM readers WHERE id_hash = ?",
                                    (id_number_hash(card.id_number, d.parts.settings.library_key),))
    assert reader["name"] == "欧阳娜娜" and reader["category"] == "student"
    payload = _registration(d, card.id_number)
    assert payload["name"] == card.name and "guardian_phone" not in payload
    d.press(key="nav.done")
    d.remove_card()


def test_expired_id_card_refused_then_a_valid_one_read(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    readers = d.parts.store.count("readers")
    d.press(key="home.new_card")
    expired = d.parts.id_card_reader.place("expired")
    d.pump()
    d.parts.id_card_reader.remove()
    d.pump()
    assert expired.expired(d.parts.clock.now().date())
    assert d.app.screen.error == i18n.translate("idcard.expired", "zh_CN")
    assert d.app.screen.error in d.texts()
    assert d.app.screen.identity is None and d.app.screen.step == 0
    assert d.app.screen.waiting_for == "id_card"  # still asking for a card
    assert d.parts.store.count("readers") == readers
    d.press(raw="English")
    assert d.app.screen.error == i18n.translate("idcard.expired", "en")
    d.press(raw="中文")
    # the next card read works
    place_id_card(d, id_card_of("周明", make_id(332)))
    assert d.app.screen.identity is not None and not d.app.screen.error_key


def test_under_14_gives_a_guardian_phone_before_their_own(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    d.press(key="home.new_card")
    child = d.parts.id_card_reader.place("child")
    d.pump()
    d.parts.id_card_reader.remove()
    d.pump()
    screen = d.app.screen
    assert screen.identity.categories == ("child",) and screen.identity.guardian_needed
    assert "step.guardian" in screen.steps
    assert screen.steps.index("step.guardian") < screen.steps.index("step.phone")
    shown = d.texts()
    assert i18n.translate("idcard.category_by_age", "zh_CN",
                          category=i18n.translate("category.child", "zh_CN")) in shown
    assert i18n.translate("guardian.hint", "zh_CN") in shown
    d.press(key="nav.next")  # no category to choose: straight to the guardian
    assert screen.step == screen.steps.index("step.guardian")
    assert screen.entry.label_key == "field.guardian_phone"
    assert screen.ok_button.disabled  # not skippable
    d.type_digits("12345678901")
    d.press(key="nav.next")
    assert screen.error_key == "phone.invalid"
    for _ in range(11):
        d.press(key="keypad.back")
    d.type_digits("13700001111")
    d.press(key="nav.next")
    assert screen.step == screen.steps.index("step.phone"), screen.error
    _phone_pin_pay_card(d, b"\x04\xd1\x00\x02")  # child: deposit only, paid by code

    payload = _registration(d, child.id_number)
    assert payload["category"] == "child" and payload["guardian_phone"] == "13700001111"
    d.press(key="nav.done")
    d.remove_card()


def test_same_person_with_a_live_card_is_offered_renewal_or_replacement(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    uid = b"\x04\xd1\x00\x03"
    id_number = issue_card(d, serial=333, uid=uid, name=(("lin", "林"), ("feng", "峰")))
    d.press(key="nav.done")
    d.remove_card()
    readers = d.parts.store.count("readers")

    d.press(key="home.new_card")
    place_id_card(d, id_card_of("林峰", id_number))
    assert d.app.screen.identity is None
    shown = d.texts()
    assert i18n.translate("newcard.exists", "zh_CN") in shown
    assert d.find(key="home.renewal") and d.find(key="home.replacement")
    assert d.parts.store.count("readers") == readers  # never a second reader or card
    d.press(key="home.replacement")
    assert d.app.sm.current == "replacement" and d.app.screen.waiting_for == "id_card"


def test_replacement_takes_the_id_card_then_the_pin(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    old_uid, new_uid = b"\x04\xd1\x00\x04", b"\x04\xd1\x00\x05"
    id_number = issue_card(d, serial=334, uid=old_uid, name=(("he", "何"), ("ping", "平")))
    d.press(key="nav.done")
    d.remove_card()

    d.press(key="home.replacement")
    assert d.app.screen.steps[0] == "step.id_card"
    assert not d.find_all(cls=DigitEntry) and not d.find_all(key="idcard.type_by_hand")
    expired = id_card_of("何平", id_number, valid_to="20251231")  # an old card of the same person
    place_id_card(d, expired)
    assert d.app.screen.error == i18n.translate("idcard.expired", "zh_CN")
    assert d.app.screen.step == 0
    place_id_card(d, id_card_of("何平", id_number))
    assert d.app.screen.step == 1, d.app.screen.error
    assert d.app.screen.entry.label_key == "field.pin"  # the PIN is still required
    d.type_digits("000000")
    d.press(key="nav.next")
    assert d.app.screen.error_key == "pin.wrong" and d.app.screen.step == 1
    d.app.screen.entry.value = ""
    d.type_digits(READER_PIN)
    d.press(key="nav.next")
    assert d.app.screen.step == 2, d.app.screen.error
    d.scan(WECHAT_CODE)
    d.tap_card(new_uid)
    assert d.app.sm.current == "receipt", d.app.screen.error
    d.press(key="nav.done")
    d.remove_card()


def test_typing_by_hand_only_in_staff_mode(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    d.press(key="home.new_card")
    screen = d.app.screen
    assert not d.find_all(key="idcard.type_by_hand")
    screen._type_by_hand()  # a self-service session cannot reach the form
    assert screen.waiting_for == "id_card" and not d.find_all(cls=NameEntry)
    d.app.staff = type("Desk", (), {"staff_no": "S0001", "name": "李静", "role": "desk"})()
    try:
        screen.goto(screen.show_id_card, 0)
        d.pump()
        d.press(key="idcard.type_by_hand")
        assert screen.steps[:2] == ["step.name", "step.id_number"]
        assert d.find_all(cls=NameEntry)
    finally:
        d.app.staff = None


def test_visitor_name_from_the_id_card(kiosk_ui) -> None:  # noqa: F811
    d = kiosk_ui
    d.press(key="home.visitor")
    assert i18n.translate("visitor.id_card_hint", "zh_CN") in d.texts()
    place_id_card(d, id_card_of("司马光", make_id(335)))
    assert d.app.screen.step == 1 and d.app.screen.form["name"] == "司马光"
    assert "id_number" not in d.app.screen.form  # only the name is taken from the card



def test_no_photo_bytes_in_store_outbox_or_logs_after_an_id_card_issue(
        kiosk_ui, virtual_id_reader: VirtualIdReader, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    from config.id_card import IdCardSection
    from devices.serial_id_card_reader import SerialIdCardReader

    d = kiosk_ui
    caplog.set_level("DEBUG")
    backend = d.app.ctx.backend
    serial = SerialIdCardReader(IdCardSection(type="serial", port=virtual_id_reader.path,
                                              poll_interval_s=0.05, answer_timeout_s=1.0))
    unsubscribe = serial.subscribe(d.app.bridge.deliver)
    simulated, backend.id_card_reader = backend.id_card_reader, serial
    serial.start()
    try:
        card = VirtualIdCard.of(id_card_of("郭靖", make_id(336)))
        d.press(key="home.new_card")
        virtual_id_reader.insert(card)
        d.pump_until(lambda: d.app.screen.identity is not None, "card read over the pty")
        virtual_id_reader.remove()
        d.press(key="nav.next")
        d.tap(d.app.screen.choices[0])
        _phone_pin_pay_card(d, b"\x04\xd1\x00\x06")
    finally:
        serial.stop()
        unsubscribe()
        backend.id_card_reader = simulated
    store = d.parts.store
    assert _registration(d, card.id_number)["name"] == "郭靖"
    chunks = [card.photo[i:i + 16] for i in range(0, len(card.photo), 64)]
    for row in store.read("SELECT payload FROM outbox"):
        assert PHOTO_MARKER.hex() not in row["payload"] and "WLT-PHOTO" not in row["payload"]
    db = d.parts.data_dir / "kiosk.db"
    raw = b"".join(p.read_bytes() for p in db.parent.glob("kiosk.db*"))
    assert PHOTO_MARKER not in raw and not any(c in raw for c in chunks)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "WLT-PHOTO" not in logged and PHOTO_MARKER.hex() not in logged
    d.press(key="nav.done")
    d.remove_card()
