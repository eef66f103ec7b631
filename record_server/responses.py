"""Response bodies of the endpoints whose answers were plain dicts (health, rules, reports,
summary, items, loans): one model each, so OpenAPI describes every answer.

``extra="forbid"``: a key the data function adds without the model is a loud error (500 in the
API, a failing test), never silently dropped from the answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, RootModel


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(Answer):
    status: str


class RuleCatalogue(RootModel[dict[str, str]]):
    """Conflict rule name -> what the rule decides."""


class CountAmount(Answer):
    count: int
    amount: int


class DayFigures(Answer):
    """One scope's figures for the day; money in fen."""

    cards_issued: int
    cards_renewed: int
    cards_replaced: int
    cards_blocked: int
    returns: int
    visitors: int
    fees_assessed: dict[str, CountAmount]
    payments: dict[str, CountAmount]
    refunds: CountAmount
    credited: int
    payments_total: int


class DailyReport(Answer):
    """Counts and money (fen) for one library-local day: in total, per kiosk, per branch."""

    date: str
    generated_at: str
    totals: DayFigures
    by_kiosk: dict[str, DayFigures]
    by_branch: dict[str, DayFigures]
    on_site_now: int


class RangeReport(Answer):
    """Counts and money (fen) for the library-local days from..to: in total, per kiosk, per
    branch and per day."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    generated_at: str
    totals: DayFigures
    by_kiosk: dict[str, DayFigures]
    by_branch: dict[str, DayFigures]
    by_day: dict[str, DayFigures]
    on_site_now: int


class Summary(Answer):
    """Counts and money totals (fen) over everything held."""

    readers: int
    cards: int
    fees: int
    loans: int
    visits: int
    conflicts: int
    payments: dict[str, CountAmount]
    fees_amount: int
    fees_paid: int
    credit: int
    events: dict[str, int]


class ItemPublic(Answer):
    barcode: str
    title: str
    author: str
    call_no: str
    hold: bool


class LoanCreated(Answer):
    loan_id: str
    item_barcode: str
    reader_id: str
    borrowed_at: str
    due_on: str


class LoanRenewed(Answer):
    loan_id: str
    due_on: str
