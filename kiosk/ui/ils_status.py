"""The ILS link on the status strip (issue 15.3): up, down, and the last error's kind, plus
how many transactions wait for it. Read from the ILS runtime on the Kivy thread (no I/O: the
client keeps its link state; the heartbeat thread does the asking)."""

from __future__ import annotations

from typing import Any

_ERROR_STATES = {"ils.login_refused": "status.ils.login_refused",
                 "ils.protocol": "status.ils.protocol"}


def ils_strip_state(link: Any) -> tuple[str, str]:
    """(state message id, lamp level) for an ``IlsLink``; ("", "unknown") with no ILS."""
    if link is None:
        return "", "unknown"
    if link.up:
        return "status.ils.up", "ok"
    return _ERROR_STATES.get(link.last_error, "status.ils.down"), "bad"


def show_ils_link(app: Any, runtime: Any) -> None:
    """Put the link of ``runtime`` (``IlsRuntime`` or None) on the app's strip properties."""
    link = runtime.client.link() if runtime is not None else None
    app.ils_state, app.ils_level = ils_strip_state(link)
    app.ils_queued = runtime.desk.queue.pending_count() if runtime is not None else 0
