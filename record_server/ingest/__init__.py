"""Pushed kiosk events applied exactly once, in order per kiosk, with the business rules.

Modules by job: ``rules`` (the named conflict rules), ``statements`` (the prebuilt-statement
cache the handlers share), ``context`` (one event's context and outcome), one module of handlers
per resource (``readers``, ``cards``, ``payments``, ``loans``, ``visits``; ``handlers`` maps each
event kind to its handler), ``ordering`` (sequencing a batch: duplicates, gaps, priority events,
savepoint reruns), ``retry`` (savepoints, transient errors, ``Busy``) and ``push`` (one batch in
one transaction, retried when it loses a race). ``record_server.apply`` is the entry point.
"""
