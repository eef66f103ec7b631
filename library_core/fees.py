"""The fee schedule (from ``config/fees.toml``) and fine arithmetic, all in integer fen."""

from __future__ import annotations

import datetime as dt
import enum
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from library_core.errors import ConfigError
from library_core.money import Fen


class ReaderCategory(enum.StrEnum):
    ADULT = "adult"
    STUDENT = "student"
    CHILD = "child"
    SENIOR = "senior"


class FeeKind(enum.StrEnum):
    DEPOSIT = "deposit"
    CARD = "card"
    REPLACEMENT = "replacement"
    RENEWAL = "renewal"
    OVERDUE = "overdue"
    LOST_ITEM = "lost_item"


@dataclass(frozen=True, slots=True)
class CategoryFees:
    deposit: Fen
    card_fee: Fen


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    categories: Mapping[ReaderCategory, CategoryFees]
    replacement_fee: Fen
    renewal_fee: Fen
    renewal_periods_months: tuple[int, ...]
    card_validity_months: int
    overdue_fine_per_day: Fen
    overdue_fine_cap_per_item: Fen
    renewal_refused_above: Fen
    loan_days: int = 30

    def for_category(self, category: ReaderCategory | str) -> CategoryFees:
        return self.categories[ReaderCategory(category)]

    def renewal_fee_for(self, months: int) -> Fen:
        """Renewal fee scales per 12 months (rounded up to whole years, minimum one)."""
        if months not in self.renewal_periods_months:
            from library_core.errors import ValidationError

            raise ValidationError("renewal.period", f"period {months} months is not offered")
        years = max(1, -(-months // 12))
        return self.renewal_fee * years

    def to_dict(self) -> dict[str, Any]:
        return {
            "categories": {
                str(k): {"deposit": v.deposit, "card_fee": v.card_fee}
                for k, v in self.categories.items()
            },
            "replacement_fee": self.replacement_fee,
            "renewal_fee": self.renewal_fee,
            "renewal_periods_months": list(self.renewal_periods_months),
            "card_validity_months": self.card_validity_months,
            "overdue_fine_per_day": self.overdue_fine_per_day,
            "overdue_fine_cap_per_item": self.overdue_fine_cap_per_item,
            "renewal_refused_above": self.renewal_refused_above,
            "loan_days": self.loan_days,
        }


def _fen(data: Mapping[str, Any], key: str, path: str) -> Fen:
    if key not in data:
        raise ConfigError(f"{path}{key}", "missing")
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{path}{key}", f"must be a non-negative integer amount in fen, got {value!r}")
    return value


_TOP_KEYS = {
    "categories", "replacement_fee", "renewal_fee", "renewal_periods_months",
    "card_validity_months", "overdue_fine_per_day", "overdue_fine_cap_per_item",
    "renewal_refused_above", "loan_days",
}


def fee_schedule_from_dict(data: Mapping[str, Any]) -> FeeSchedule:
    """Validate a parsed fee schedule. Raises ConfigError naming the bad key."""
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"fees.{key}", "unknown key")
    cats_raw = data.get("categories")
    if not isinstance(cats_raw, Mapping):
        raise ConfigError("fees.categories", "missing table")
    cats: dict[ReaderCategory, CategoryFees] = {}
    for name, table in cats_raw.items():
        try:
            cat = ReaderCategory(name)
        except ValueError:
            raise ConfigError(f"fees.categories.{name}", "unknown reader category") from None
        if not isinstance(table, Mapping):
            raise ConfigError(f"fees.categories.{name}", "must be a table")
        for key in table:
            if key not in ("deposit", "card_fee"):
                raise ConfigError(f"fees.categories.{name}.{key}", "unknown key")
        path = f"fees.categories.{name}."
        cats[cat] = CategoryFees(_fen(table, "deposit", path), _fen(table, "card_fee", path))
    for cat in ReaderCategory:
        if cat not in cats:
            raise ConfigError(f"fees.categories.{cat}", "missing")
    periods = data.get("renewal_periods_months", [12])
    if (
        not isinstance(periods, list)
        or not periods
        or not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p <= 60 for p in periods)
    ):
        raise ConfigError("fees.renewal_periods_months", "must be a list of months between 1 and 60")
    validity = data.get("card_validity_months", 12)
    if not isinstance(validity, int) or isinstance(validity, bool) or not 1 <= validity <= 120:
        raise ConfigError("fees.card_validity_months", "must be between 1 and 120")
    loan_days = data.get("loan_days", 30)
    if not isinstance(loan_days, int) or isinstance(loan_days, bool) or not 1 <= loan_days <= 365:
        raise ConfigError("fees.loan_days", "must be between 1 and 365")
    return FeeSchedule(
        categories=cats,
        replacement_fee=_fen(data, "replacement_fee", "fees."),
        renewal_fee=_fen(data, "renewal_fee", "fees."),
        renewal_periods_months=tuple(periods),
        card_validity_months=validity,
        overdue_fine_per_day=_fen(data, "overdue_fine_per_day", "fees."),
        overdue_fine_cap_per_item=_fen(data, "overdue_fine_cap_per_item", "fees."),
        renewal_refused_above=_fen(data, "renewal_refused_above", "fees."),
        loan_days=loan_days,
    )


def load_fee_schedule(path: Path) -> FeeSchedule:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("fees", f"file not found: {path}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("fees", f"{path}: {err}") from err
    return fee_schedule_from_dict(data)


def days_overdue(due: dt.date, returned: dt.date) -> int:
    return max(0, (returned - due).days)


def overdue_fine(due: dt.date, returned: dt.date, schedule: FeeSchedule) -> Fen:
    """Days late × daily rate, capped per item."""
    return min(days_overdue(due, returned) * schedule.overdue_fine_per_day,
               schedule.overdue_fine_cap_per_item)


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar month arithmetic; 31 Jan + 1 month -> 28/29 Feb."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")
