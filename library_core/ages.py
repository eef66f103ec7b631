"""Age rules of a reader's registration, applied by the kiosk and the record server alike: the
category that follows from the birth date, the guardian a minor under 14 needs, and the
resident ID card's validity.

- ``child`` under 14 (the age under which PIPL art. 31 asks for a guardian's consent; also
  the library's children's card), ``senior`` from 60 (老年人权益保障法 art. 2): both follow
  from the birth date; between the two the reader chooses ``adult`` or ``student``.
- Under 14 a guardian's mobile number is required.
- An ID card past its "valid to" date is refused (``None``: 长期, valid for life).
"""

from __future__ import annotations

import datetime as dt

from library_core.fees import ReaderCategory

CHILD_UNDER_AGE = 14
SENIOR_FROM_AGE = 60
GUARDIAN_UNDER_AGE = 14


def age_on(birth: dt.date, today: dt.date) -> int:
    """Whole years from ``birth`` to ``today`` (a 29 February birthday counts on 1 March)."""
    years = today.year - birth.year
    if (today.month, today.day) < (birth.month, birth.day):
        years -= 1
    return max(years, 0)


def categories_for(birth: dt.date, today: dt.date) -> tuple[ReaderCategory, ...]:
    """The categories a reader born on ``birth`` may register in today (one when it follows
    from the age, else adult or student, the reader's choice)."""
    age = age_on(birth, today)
    if age < CHILD_UNDER_AGE:
        return (ReaderCategory.CHILD,)
    if age >= SENIOR_FROM_AGE:
        return (ReaderCategory.SENIOR,)
    return (ReaderCategory.ADULT, ReaderCategory.STUDENT)


def category_refusal(category: str, birth: dt.date, today: dt.date) -> str | None:
    """``category.age`` when ``category`` does not fit the age, else None."""
    allowed = {str(c) for c in categories_for(birth, today)}
    return None if category in allowed else "category.age"


def claimed_category_refusal(category: str, birth: dt.date, today: dt.date) -> str | None:
    """``category.age`` when a registration claims a category that only an age gives (child,
    senior: cheaper or free cards) and the age does not give it, else None. The record server
    applies this half of ``category_refusal``: registrations made before the rule existed
    (kiosks not yet updated, imports) may hold adult or student for a reader of any age."""
    if category not in (ReaderCategory.CHILD, ReaderCategory.SENIOR):
        return None
    return category_refusal(category, birth, today)


def guardian_required(birth: dt.date, today: dt.date) -> bool:
    """True for a reader under 14: their guardian's phone (consent) is required."""
    return age_on(birth, today) < GUARDIAN_UNDER_AGE


def guardian_refusal(birth: dt.date, today: dt.date, *,
                     guardian_phone: str | None) -> str | None:
    """``guardian.required`` for an under-14 with no guardian's phone, ``guardian.not_needed``
    for a reader of 14 or more who gave one (the child's own contact phone may be the
    guardian's: many children have none)."""
    if not guardian_required(birth, today):
        return "guardian.not_needed" if guardian_phone else None
    return None if guardian_phone else "guardian.required"


def id_card_refusal(valid_to: dt.date | None, today: dt.date, *,
                    valid_from: dt.date | None = None) -> str | None:
    """``idcard.expired`` past its validity, ``idcard.not_yet_valid`` before it, else None
    (``valid_to`` None: 长期)."""
    if valid_to is not None and valid_to < today:
        return "idcard.expired"
    if valid_from is not None and valid_from > today:
        return "idcard.not_yet_valid"
    return None
