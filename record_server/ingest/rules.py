"""The named conflict rules: recorded in ``conflicts`` and answered with ``rule``."""

from __future__ import annotations

RULE_BLOCK_BEATS_RENEWAL = "card_block_beats_offline_renewal"
RULE_DOUBLE_PAYMENT = "double_payment_becomes_credit"
RULE_RETURN_AFTER_RENEWAL = "return_after_loan_renewal_uses_renewed_due_date"
RULE_SAME_ID_NUMBER = "same_id_number_merges_into_first_reader"
RULE_RETURNED_TWICE = "loan_returned_twice_keeps_first_return"
RULES = {
    RULE_BLOCK_BEATS_RENEWAL: "A card reported lost or cancelled stays blocked; a renewal made "
    "offline on it is not applied and its fee is credited to the reader.",
    RULE_DOUBLE_PAYMENT: "A fee paid twice (two kiosks) counts once; the second amount becomes "
    "credit on the reader's account.",
    RULE_RETURN_AFTER_RENEWAL: "A return synced after the loan was renewed is applied; its fine is "
    "recomputed from the renewed due date and any excess already paid is credited.",
    RULE_SAME_ID_NUMBER: "A reader registered at two kiosks with the same ID number is merged "
    "into the reader registered first; the second record's cards and fees move to it.",
    RULE_RETURNED_TWICE: "A loan returned at two kiosks is checked in once; the second fine is "
    "not charged.",
}
__doc__ = (__doc__ or "") + "\n".join(f"- ``{k}``: {v}" for k, v in RULES.items())
