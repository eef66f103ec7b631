"""Test-only record server: ``python -m tests.support.paused_server serve ...`` is
``record-server serve`` with a pause point inside one push transaction, for the kill drills.

With ``RECORD_SERVER_TEST_PAUSE_DIR`` set, the ``RECORD_SERVER_TEST_PAUSE_AT``-th push request
(1-based, default 1) stops inside its transaction, after every write and before COMMIT: it writes
``inside.json`` there (server pid, push number, kiosk id, the batch's seqs) and waits until a
file ``release`` appears, then writes ``left.json`` and commits. A drill waits for
``inside.json``, kills what it wants, and ``left.json`` missing proves the kill came while the
push was still inside its transaction. The pause fires once per folder: a server restarted on the
same folder passes straight through.

This module lives under tests/ (not installed with the package) and is the only code that hands
``create_app`` a ``push_pause``; ``record-server serve`` never does, so production cannot reach
the pause whatever its environment holds.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import threading
import time
from pathlib import Path

from record_server import schemas as s

ENV_DIR = "RECORD_SERVER_TEST_PAUSE_DIR"
ENV_AT = "RECORD_SERVER_TEST_PAUSE_AT"
INSIDE = "inside.json"
RELEASE = "release"
LEFT = "left.json"
ENTRY = "tests.support.paused_server"


class PushPause:
    """The pause point handed to ``create_app(push_pause=...)``."""

    def __init__(self, folder: Path, at: int) -> None:
        self.folder = folder
        self.at = at
        self._count = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self, kiosk_id: str, envelopes: list[s.EventEnvelope]) -> None:
        with self._lock:
            number = next(self._count)
            if number != self.at or (self.folder / INSIDE).exists():
                return
        marker = {"pid": os.getpid(), "push": number, "kiosk_id": kiosk_id,
                  "seqs": [e.seq for e in envelopes], "count": len(envelopes)}
        tmp = self.folder / f"{INSIDE}.tmp"
        tmp.write_text(json.dumps(marker), encoding="utf-8")
        tmp.replace(self.folder / INSIDE)  # the drill never reads half a marker
        while not (self.folder / RELEASE).exists():
            time.sleep(0.01)
        (self.folder / LEFT).write_text(json.dumps({"pid": os.getpid()}), encoding="utf-8")


def main() -> int:
    folder = os.environ.get(ENV_DIR)
    if folder:
        import record_server.app as app_module

        pause = PushPause(Path(folder), int(os.environ.get(ENV_AT, "1")))
        app_module.create_app = functools.partial(  # type: ignore[assignment]
            app_module.create_app, push_pause=pause)
    from record_server.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
