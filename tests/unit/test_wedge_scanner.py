"""KeyboardWedgeScanner: scanner bursts told apart from a person pressing keys, by fed key events.

The kiosk sends every physical key to the scanner (none reaches a text field), so a key that is
not part of a scan is simply dropped: nothing is held back or handed back to the UI.
"""

from __future__ import annotations

import pytest

from config.settings import ScannerSection
from devices.scanner import Scanned, ScannerState, ScannerStatus
from devices.wedge_scanner import MAX_BURST_KEYS, KeyboardWedgeScanner
from library_core.errors import ConfigError

SETTINGS = ScannerSection(type="wedge", max_key_interval_ms=40, min_burst_length=6)
SCANNER_GAP = 0.008  # a scanner types a key every few milliseconds
PERSON_GAP = 0.180  # a quick person still needs well over 100 ms per key
ITEM = "30000000987655"


class Keys:
    """Key-down events as Kivy's Window hands them to the app, timed ``gap`` seconds apart."""

    def __init__(self, scanner: KeyboardWedgeScanner) -> None:
        self.scanner = scanner
        self.now = 100.0

    def press(self, key: str, gap: float) -> None:
        self.now += gap
        self.scanner.feed_key(key, self.now)

    def type(self, text: str, gap: float) -> None:
        for ch in text:
            self.press(ch, gap)

    def scan(self, text: str, gap: float = SCANNER_GAP, enter: str = "enter") -> None:
        self.type(text, gap)
        self.press(enter, gap)


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
def keys(wedge: KeyboardWedgeScanner) -> Keys:
    return Keys(wedge)


def test_fast_burst_with_enter_is_a_scan(keys: Keys, scans: list[str]) -> None:
    keys.scan(ITEM)
    assert scans == [ITEM]


@pytest.mark.parametrize("enter", ["enter", "Return", "numpadenter", "\r", "\n"])
def test_any_enter_key_ends_a_scan(keys: Keys, scans: list[str], enter: str) -> None:
    keys.scan("S10234", enter=enter)
    assert scans == ["S10234"]


def test_slow_typing_then_enter_is_no_scan(keys: Keys, scans: list[str]) -> None:
    keys.type("S10234", PERSON_GAP)
    keys.press("enter", PERSON_GAP)
    assert scans == []


def test_a_person_pressing_keys_before_a_scan_does_not_spoil_it(keys: Keys, scans: list[str]) -> None:
    keys.type("Li", PERSON_GAP)
    keys.press(ITEM[0], 0.300)  # the scanner's first key, after the person paused
    keys.type(ITEM[1:], SCANNER_GAP)
    keys.press("enter", SCANNER_GAP)
    assert scans == [ITEM]


def test_two_scans_back_to_back(keys: Keys, scans: list[str]) -> None:
    keys.scan(ITEM)
    keys.scan("S10234")
    assert scans == [ITEM, "S10234"]


def test_short_fast_burst_with_enter_is_no_scan(keys: Keys, scans: list[str]) -> None:
    keys.type("12345", SCANNER_GAP)
    keys.press("enter", SCANNER_GAP)
    assert scans == []
    keys.scan(ITEM)  # and the next real scan is whole
    assert scans == [ITEM]


def test_late_enter_after_a_fast_burst_is_no_scan(keys: Keys, scans: list[str]) -> None:
    keys.type(ITEM, SCANNER_GAP)
    keys.press("enter", 0.5)
    assert scans == []


def test_a_pause_splits_a_fast_burst_from_the_scan_after_it(keys: Keys, scans: list[str]) -> None:
    keys.type("123", SCANNER_GAP)
    keys.press(ITEM[0], 0.2)
    keys.type(ITEM[1:], SCANNER_GAP)
    keys.press("enter", SCANNER_GAP)
    assert scans == [ITEM]


def _framed(wedge: KeyboardWedgeScanner, reads: list[tuple[str, float, int]]) -> None:
    for key, ts, frame in reads:
        wedge.feed_key(key, ts, frame)


def test_a_stall_of_the_ui_loop_inside_a_scan_does_not_split_it(
        wedge: KeyboardWedgeScanner, scans: list[str]) -> None:
    # as measured under Xvfb: five keys read one per frame, then a frame that stalled 150 ms
    # (memory given back on the way home) and the rest of the scan read at once after it
    first, rest = ITEM[:5], ITEM[5:] + "\n"
    reads = [(ch, 10.0 + 0.0014 * i, 100 + i) for i, ch in enumerate(first)]
    reads += [(ch, 10.160 + 0.0001 * i, 105) for i, ch in enumerate(rest)]
    _framed(wedge, reads)
    assert scans == [ITEM]


def test_a_slow_key_read_frames_later_still_breaks_a_burst(
        wedge: KeyboardWedgeScanner, scans: list[str]) -> None:
    # the same gap with frames run in between (the loop was free to read the key): a person
    reads = [(ch, 10.0 + 0.0014 * i, 100 + i) for i, ch in enumerate(ITEM[:5])]
    reads += [(ch, 10.160 + 0.0001 * i, 114) for i, ch in enumerate(ITEM[5:] + "\n")]
    _framed(wedge, reads)
    assert scans == [ITEM[5:]]  # what came after the gap, long enough to be a scan of its own
    _framed(wedge, [(ch, 20.0 + 0.2 * i, 200 + 12 * i) for i, ch in enumerate("S10234\n")])
    assert scans == [ITEM[5:]]  # a person typing with frames between the keys: no scan


def test_backspace_breaks_a_burst(keys: Keys, scans: list[str]) -> None:
    keys.type(ITEM[:7], SCANNER_GAP)
    keys.press("backspace", SCANNER_GAP)
    keys.type(ITEM[7:], SCANNER_GAP)
    keys.press("enter", SCANNER_GAP)
    assert scans == [ITEM[7:]]


def test_shift_inside_a_burst_does_not_break_it(keys: Keys, scans: list[str]) -> None:
    """A wedge scanner presses Shift for every capital letter."""
    keys.press("shift", 1.0)
    keys.press("S", SCANNER_GAP)
    for ch in "10234":
        keys.press("shift", SCANNER_GAP)
        keys.press(ch, SCANNER_GAP)
    keys.press("enter", SCANNER_GAP)
    assert scans == ["S10234"]


def test_spacebar_name_is_a_space(keys: Keys, scans: list[str]) -> None:
    keys.type("AB", SCANNER_GAP)
    keys.press("spacebar", SCANNER_GAP)
    keys.type("1234", SCANNER_GAP)
    keys.press("enter", SCANNER_GAP)
    assert scans == ["AB 1234"]


def test_stopped_scanner_ignores_keys(wedge: KeyboardWedgeScanner, keys: Keys) -> None:
    got: list[object] = []
    wedge.subscribe(got.append)
    wedge.stop()
    keys.scan(ITEM)
    assert not [e for e in got if isinstance(e, Scanned)]
    assert wedge.status.state is ScannerState.STOPPED


def test_a_key_held_down_on_auto_repeat_is_no_scan(keys: Keys, scans: list[str]) -> None:
    keys.type("x" * (MAX_BURST_KEYS + 10), SCANNER_GAP)
    keys.press("enter", SCANNER_GAP)
    assert scans == []
    keys.scan(ITEM)
    assert scans == [ITEM]


def test_time_going_backwards_is_not_a_burst(keys: Keys, scans: list[str]) -> None:
    keys.type("S1023", SCANNER_GAP)
    keys.press("4", -5.0)
    keys.press("enter", SCANNER_GAP)
    assert scans == []


def test_status_and_subscription(wedge: KeyboardWedgeScanner) -> None:
    got: list[object] = []
    unsubscribe = wedge.subscribe(got.append)
    assert got == [ScannerStatus(ScannerState.ONLINE, "wedge", "device.scanner.online")]
    unsubscribe()
    Keys(wedge).scan(ITEM)
    assert len(got) == 1


@pytest.mark.parametrize(
    ("key", "value"), [("max_key_interval_ms", 0), ("min_burst_length", 1)]
)
def test_bad_timing_settings_name_the_key(key: str, value: int) -> None:
    settings = ScannerSection(type="wedge", **{key: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        KeyboardWedgeScanner(settings)
    assert info.value.key == f"scanner.{key}"
