"""The record server's side of the library's ILS (issue 15): kiosks' ILS exception reports
(``ils.refused`` events, ``tables.ils_exceptions``) and the export of new readers in forms an
ILS imports (``export``)."""
