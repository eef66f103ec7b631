"""The central record server: HTTP API, database, sync, conflict rules and reports.

``record_server.embedded.start_embedded`` runs it inside another process (the kiosk demo).
"""
