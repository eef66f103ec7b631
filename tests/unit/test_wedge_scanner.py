"""KeyboardWedgeScanner: scanner bursts told apart from a person typing, by fed key events."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from config.settings import ScannerSection
from devices.scanner import (
    MAX_HELD_KEYS,
    KeyboardWedgeScanner,
    Scanned,
    ScannerState,
    ScannerStatus,
)
from kiosk.errors import ConfigError

SETTINGS = ScannerSection(type="wedge", max_key_interval_ms=40, min_burst_length=6)
SCANNER_GAP = 0.008  # a scanner types a key every few milliseconds
PERSON_GAP = 0.180  # a quick person still needs well over 100 ms per key
ITEM = "30000000987655"


class Field:
    """What the focused text field ends up showing when the UI follows each KeyDecision."""

    def __init__(self, scanner: KeyboardWedgeScanner) -> None:
        self.scanner = scanner
        self.text = ""
        self.keys: list[str] = []  # non-character keys that reached the field
        self.now = 100.0

    def _deliver(self, keys: Iterable[str]) -> None:
        for key in keys:
            if len(key) == 1:
                self.text += key
            else:
                self.keys.append(key)

    def press(self, key: str, gap: float) -> bool:
        """One key-down ``gap`` seconds after the previous one; True if the field got it."""
        self.now += gap
        self._deliver(self.scanner.flush(self.now))  # the UI's scheduled flush, if it was due
        decision = self.scanner.feed_key(key, self.now)
        self._deliver(decision.release)
        if decision.pass_through:
            self._deliver([key])
        return decision.pass_through

    def type(self, text: str, gap: float) -> None:
        for ch in text:
            self.press(ch, gap)

    def scan(self, text: str, gap: float = SCANNER_GAP, enter: str = "enter") -> None:
        self.type(text, gap)
        self.press(enter, gap)

    def idle(self, seconds: float) -> None:
        """Time passes with no key; the UI's Clock calls flush at the deadline."""
        deadline = self.scanner.next_deadline()
        self.now += seconds
        if deadline is not None and deadline <= self.now:
            self._deliver(self.scanner.flush(self.now))


@pytest.fixture
def wedge() -> KeyboardWedgeScanner:
    scanner = KeyboardWedgeScanner(SETTINGS)
    scanner.start()
    return scanner


@pytest.fixture
def scans(wedge: KeyboardWedgeScanner) -> list[str]:
    got: list[str] = []
    wedge.subscribe(lambda e: got.append(e.text) if isinstance(e, Scanned) else None)
    return got


@pytest.fixture
def field(wedge: KeyboardWedgeScanner) -> Field:
    return Field(wedge)


def test_fast_burst_with_enter_is_a_scan_and_never_reaches_the_field(
    field: Field, scans: list[str]
) -> None:
    field.scan(ITEM)
    field.idle(1.0)
    assert scans == [ITEM]
    assert field.text == "" and field.keys == []


@pytest.mark.parametrize("enter", ["enter", "Return", "numpadenter", "\r", "\n"])
def test_any_enter_key_ends_a_scan(field: Field, scans: list[str], enter: str) -> None:
    field.scan("S10234", enter=enter)
    assert scans == ["S10234"]
    assert field.keys == []


def test_slow_typing_passes_through(field: Field, scans: list[str]) -> None:
    field.type("Zhang San 13812345678", PERSON_GAP)
    field.idle(1.0)
    assert field.text == "Zhang San 13812345678"
    assert scans == []


def test_slow_typing_then_enter_submits_the_field(field: Field, scans: list[str]) -> None:
    field.type("S10234", PERSON_GAP)
    assert field.press("enter", PERSON_GAP) is True
    assert field.text == "S10234" and field.keys == ["enter"]
    assert scans == []


def test_last_typed_key_appears_after_the_interval_without_another_key(
    wedge: KeyboardWedgeScanner, field: Field
) -> None:
    field.press("7", PERSON_GAP)
    assert field.text == "" and wedge.holding  # held while it could be a scanner's first key
    deadline = wedge.next_deadline()
    assert deadline == pytest.approx(field.now + 0.040)
    assert wedge.flush(field.now + 0.020) == ()  # not due yet
    field.idle(0.050)
    assert field.text == "7" and not wedge.holding
    assert wedge.next_deadline() is None


def test_person_typing_then_a_scan(field: Field, scans: list[str]) -> None:
    """Keys a person typed go to the field; the scan that follows goes to the parser."""
    field.type("Li", PERSON_GAP)
    field.press("3", 0.300)  # the scanner's first key, after the person paused
    field.type(ITEM[1:], SCANNER_GAP)
    field.press("enter", SCANNER_GAP)
    assert field.text == "Li"
    assert scans == [ITEM]
    field.type("Si", PERSON_GAP)  # and typing carries on afterwards
    field.idle(1.0)
    assert field.text == "LiSi"


def test_scan_then_person_typing(field: Field, scans: list[str]) -> None:
    field.scan(ITEM)
    field.type("ok", PERSON_GAP)
    field.idle(1.0)
    assert scans == [ITEM] and field.text == "ok"


def test_two_scans_back_to_back(field: Field, scans: list[str]) -> None:
    field.scan(ITEM)
    field.scan("S10234", gap=SCANNER_GAP)
    assert scans == [ITEM, "S10234"]
    assert field.text == ""


def test_short_fast_burst_with_enter_is_typing(field: Field, scans: list[str]) -> None:
    """Fewer than min_burst_length keys (a person's quick "ok" + Enter) stay in the field."""
    field.type("12345", SCANNER_GAP)
    assert field.press("enter", SCANNER_GAP) is True
    assert field.text == "12345" and field.keys == ["enter"]
    assert scans == []


def test_fast_burst_without_enter_is_released_to_the_field(field: Field, scans: list[str]) -> None:
    """Key auto-repeat is as fast as a scanner but ends with no Enter."""
    field.type("aaaaaaaaaaaa", 0.033)
    field.idle(1.0)
    assert field.text == "aaaaaaaaaaaa"
    assert scans == []


def test_late_enter_after_a_fast_burst_is_not_a_scan(field: Field, scans: list[str]) -> None:
    field.type(ITEM, SCANNER_GAP)
    assert field.press("enter", 0.5) is True
    assert field.text == ITEM and field.keys == ["enter"]
    assert scans == []


def test_a_pause_splits_a_fast_burst_from_the_scan_after_it(field: Field, scans: list[str]) -> None:
    """Three quick keys, a pause, then a real scan: the three go to the field, not the scan."""
    field.type("123", SCANNER_GAP)
    field.press(ITEM[0], 0.2)
    field.type(ITEM[1:], SCANNER_GAP)
    field.press("enter", SCANNER_GAP)
    assert scans == [ITEM]
    assert field.text == "123"


def test_backspace_releases_held_keys_first_then_passes(field: Field, scans: list[str]) -> None:
    field.press("a", PERSON_GAP)
    assert field.press("backspace", 0.010) is True
    assert field.text == "a" and field.keys == ["backspace"]  # in order: a, then backspace


def test_shift_inside_a_burst_is_swallowed_and_does_not_break_it(
    field: Field, scans: list[str]
) -> None:
    """A wedge scanner presses Shift for every capital letter."""
    assert field.press("shift", 1.0) is True  # nothing held: a modifier goes to the field
    field.press("S", SCANNER_GAP)
    for ch in "10234":
        assert field.press("shift", SCANNER_GAP) is False  # inside a burst: kept
        field.press(ch, SCANNER_GAP)
    field.press("enter", SCANNER_GAP)
    assert scans == ["S10234"] and field.text == ""


def test_spacebar_name_is_a_space(field: Field) -> None:
    field.press("a", PERSON_GAP)
    field.press("spacebar", PERSON_GAP)
    field.press("b", PERSON_GAP)
    field.idle(1.0)
    assert field.text == "a b"


def test_stopped_scanner_passes_everything_through(wedge: KeyboardWedgeScanner) -> None:
    got: list[object] = []
    wedge.subscribe(got.append)
    wedge.stop()
    field = Field(wedge)
    field.scan(ITEM)
    assert field.text == ITEM and field.keys == ["enter"]
    assert not [e for e in got if isinstance(e, Scanned)]
    assert wedge.status.state is ScannerState.STOPPED


def test_endless_fast_keys_are_released_not_hoarded(field: Field, scans: list[str]) -> None:
    field.type("x" * (MAX_HELD_KEYS + 10), 0.030)
    assert len(field.text) >= MAX_HELD_KEYS  # released while the key is still held down
    field.idle(1.0)
    assert field.text == "x" * (MAX_HELD_KEYS + 10)
    assert scans == []


def test_time_going_backwards_is_not_a_burst(field: Field, scans: list[str]) -> None:
    field.type("S1023", SCANNER_GAP)
    field.press("4", -5.0)
    field.press("enter", SCANNER_GAP)
    assert scans == []
    assert field.text == "S10234"


def test_status_and_subscription(wedge: KeyboardWedgeScanner) -> None:
    got: list[object] = []
    unsubscribe = wedge.subscribe(got.append)
    assert got == [ScannerStatus(ScannerState.ONLINE, "wedge", "device.scanner.online")]
    unsubscribe()
    Field(wedge).scan(ITEM)
    assert len(got) == 1


@pytest.mark.parametrize(
    ("key", "value"), [("max_key_interval_ms", 0), ("min_burst_length", 1)]
)
def test_bad_timing_settings_name_the_key(key: str, value: int) -> None:
    settings = ScannerSection(type="wedge", **{key: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        KeyboardWedgeScanner(settings)
    assert info.value.key == f"scanner.{key}"
