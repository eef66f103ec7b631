"""A late ILS answer (issue 15): the 09 reaches the ILS, which checks the item in but answers after
the kiosk's deadline, so the kiosk queues the return. Forwarded later, the ILS answers "not
checked out": that return is done, not an exception for staff. A return the ILS never saw (the
log-in failed: nothing went out) and then refuses stays an exception."""

from __future__ import annotations

import time
from pathlib import Path

from kiosk.services.circulation import ALREADY_CHECKED_IN
from kiosk.services.returns import ReturnOutcome
from tests.integration.test_sip2_circulation import make_ils_env
from tests.support.test_ils import (
    ON_LOAN,
    ON_SHELF,
    OTHER,
    TestIls,
    test_ils,  # noqa: F401  (fixture)
)


def wait_for(check: object, what: str, limit_s: float = 60.0) -> None:
    end = time.monotonic() + limit_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, f"{what}: not seen within {limit_s} s"
        time.sleep(0.02)


def test_a_late_answered_return_forwarded_later_is_not_a_false_exception(
        tmp_path: Path, test_ils: TestIls) -> None:  # noqa: F811
    e = make_ils_env(tmp_path / "kiosk.sqlite3", test_ils, sip2_timeout_s=2.0)
    try:
        test_ils.fault("09", "held")  # answered only once the client's 2 s deadline has passed
        session = e.env.services.returns.start()
        assert session.scan(ON_LOAN).outcome == ReturnOutcome.QUEUED  # no answer in time
        [queued] = e.desk.queue.pending()
        assert queued.payload == {"item": ON_LOAN, "maybe_checked_in": True}
        test_ils.release_held()
        # the ILS acted on the first 09 after all: the item is back there
        wait_for(lambda: test_ils.items[ON_LOAN].loaned_to == "", "the late check-in")
        assert e.forwarder.forward() == (1, 0)
        assert test_ils.checkins == [ON_LOAN, ON_LOAN]  # the second one: "not checked out"
        assert e.desk.queue.exceptions() == []  # not a false exception
        assert e.desk.queue.pending_count() == 0
        settled = e.env.store.read("SELECT status, answer FROM ils_queue")
        assert [(r["status"], r["answer"].split(" / ")[0]) for r in settled] == [
            ("forwarded", ALREADY_CHECKED_IN)]
        assert not [r for r in e.env.store.read("SELECT kind FROM outbox")
                    if r["kind"] == "ils.refused"]  # nothing for the console's report either
    finally:
        e.client.close()


def test_a_return_that_never_reached_the_ils_and_is_refused_stays_an_exception(
        tmp_path: Path, test_ils: TestIls) -> None:  # noqa: F811
    e = make_ils_env(tmp_path / "kiosk.sqlite3", test_ils, sip2_timeout_s=2.0)
    try:
        test_ils.fault("93", "drop")  # the log-in fails: the 09 never goes out
        session = e.env.services.returns.start()
        assert session.scan(ON_SHELF).outcome == ReturnOutcome.QUEUED
        assert e.desk.queue.pending()[0].payload == {"item": ON_SHELF}
        test_ils.fault("09", "held")  # and a late one for a loaned item, answered too late
        assert session.scan(OTHER).outcome == ReturnOutcome.QUEUED
        test_ils.release_held()
        wait_for(lambda: test_ils.items[OTHER].loaned_to == "", "the late check-in")
        assert e.forwarder.forward() == (1, 1)
        [refused] = e.desk.queue.exceptions()
        assert refused.payload == {"item": ON_SHELF}  # on the shelf all along: staff look
    finally:
        e.client.close()
