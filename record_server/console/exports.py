"""Every console table as CSV or XLSX (openpyxl): a header row, then the rows as shown.

A report's export is ``reports.range_table`` under ``reports.RANGE_HEADER``: the very rows the
JSON API's ``/api/v1/reports/range?format=csv`` gives, so an export equals the API's numbers.
Cells that could be read as a formula by a spreadsheet (a name starting with ``=``, ``+``,
``-``, ``@``) are prefixed with an apostrophe: visitor names and reasons come from kiosks.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

from fastapi.responses import Response

from record_server import reports

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def table_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """UTF-8 with a BOM (so a spreadsheet opens Chinese text right), ``\\n`` line ends."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(header)
    out.writerows([["" if v is None else _safe(v) for v in row] for row in rows])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def table_xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str) -> bytes:
    """One sheet named ``title``: the header in bold, numbers as numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has its first sheet  # noqa: S101
    sheet.title = title[:31]
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_safe(v) for v in row])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def download(header: Sequence[str], rows: Sequence[Sequence[Any]], *, name: str,
             fmt: str) -> Response:
    """The table as an attachment ``name``.csv or ``name``.xlsx. ``fmt`` is csv or xlsx."""
    if fmt == "xlsx":
        return Response(table_xlsx(header, rows, title=name), media_type=XLSX_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return Response(table_csv(header, rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def report_download(report: dict[str, Any], fmt: str) -> Response:
    """A range report (``reports.range_report``) as CSV or XLSX."""
    name = f"report-{report['from']}-{report['to']}"
    return download(reports.RANGE_HEADER, reports.range_table(report), name=name, fmt=fmt)


def day_range(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
