"""Data functions the routers call: every SQL statement outside event ingest lives here.

Each takes the connection (or ``Database``) and keyword-only arguments, returns plain values
or dicts shaped like the response models, and raises ``NotFound`` / ``Refused``
(``record_server.crud.errors``) that the API answers 404 / 409.
"""
