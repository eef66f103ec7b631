"""The central record server: HTTP API, database, sync, conflict rules and reports.

``record_server.embedded.start_embedded`` runs it inside another process (the kiosk demo, through
``kiosk.embedded_server``, which seeds the demo rows).
"""
