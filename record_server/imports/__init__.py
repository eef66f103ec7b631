"""Imports of the library's existing readers and catalogue (issue 12 point 9).

Pure parts, no database: ``tabular`` reads a CSV (UTF-8, or GB18030 detected) or XLSX file into
rows, ``marc`` reads MARC records (ISO 2709 or MARCXML, MARC 21 or CNMARC) into item rows,
``checks`` validates rows and lists every row-level error. ``store`` checks the rows against the
database and writes them in one transaction; ``jobs`` runs a dry run or a commit as a
background job whose progress is kept in ``import_jobs``. The console page
(``record_server.console.imports``) and the CLI (``record-server import-items`` /
``import-readers``) use the same code.
"""
