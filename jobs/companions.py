"""The printed companions of a run of cards, in card order: the label sheet, the coupon
inserts and a packing list, each marked ``17/120 · 3f9c1a2b`` so the three piles can be
matched with the cards by eye.

Pure functions over ``(job id, spec)`` pairs in card order; the API (batches), the CLI
(directories of rendered jobs) and the station page (its run) call them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from cards.coupon import CouponError, CouponInsert, coupons_pdf
from cards.labels import Label, LabelError, label_sheet, labels_pdf
from jobs.render import address_block
from jobs.schema import JobError, JobSpec

LOCALES = {"de": "de_DE", "de-at": "de_AT", "de-ch": "de_CH", "en": "en_US",
           "en-gb": "en_GB", "en-us": "en_US"}

Card = tuple[str, JobSpec]  # (job id, its spec), in card order


def short_id(job_id: str) -> str:
    """The short job id printed on companions: the first 8 characters after the prefix."""
    return job_id.split("_", 1)[-1][:8]


def order_mark(index: int, count: int, job_id: str) -> str:
    """``17/120 · 3f9c1a2b``: the card's place in its run and its short id."""
    return f"{index + 1}/{count} · {short_id(job_id)}"


def labels_for(cards: Sequence[Card], *, sheet: str = "zweckform-3475", start: int = 1) -> bytes:
    """A label sheet PDF with the recipients of ``cards`` in card order, from cell
    ``start``. Cards that get no printed label (no recipient, or delivery 'envelope' or
    'none') are left out, but the order marks count every card, so labels, coupons and
    cards still match by eye. No card with a label is an error."""
    labels = []
    for index, (job_id, spec) in enumerate(cards):
        if spec.recipient is None or spec.delivery != "label":
            continue
        labels.append(Label(lines=address_block(spec),
                            order_mark=order_mark(index, len(cards), job_id)))
    if not labels:
        raise JobError("labels: none of these cards has a recipient for a printed label")
    try:
        return labels_pdf(labels, label_sheet(sheet), start=start)
    except (LabelError, KeyError, ValueError) as error:
        raise JobError(f"labels: {error.args[0] if error.args else error}") from None


def coupons_for(cards: Sequence[Card], *, shop_name: str | Sequence[str], size: str = "a7"
                ) -> bytes:
    """Coupon inserts for the cards that carry a coupon, in card order, each with the
    order mark of its card and its shop's name (one for all, or one per card); no card
    with a coupon is an error."""
    names = [shop_name] * len(cards) if isinstance(shop_name, str) else list(shop_name)
    inserts = []
    for index, (job_id, spec) in enumerate(cards):
        coupon = spec.coupon
        if coupon is None:
            continue
        if not coupon.code:
            raise JobError(f"job {job_id} has a coupon without a code")
        sender = address_block(spec, "sender")
        try:
            inserts.append(CouponInsert(
                shop_name=names[index], kind=coupon.kind, amount=coupon.amount,
                currency=coupon.currency if coupon.kind == "amount" else None,
                locale=LOCALES.get(spec.language, "de_DE"), code=coupon.code,
                expires=coupon.expires, redeem_url=coupon.redeem_url,
                order_mark=order_mark(index, len(cards), job_id),
                sender_lines=tuple(sender[:1] + sender[-1:]) if sender else ()))
        except CouponError as error:
            raise JobError(f"job {job_id} coupon: {error}") from None
    if not inserts:
        raise JobError("coupons: none of these cards has a coupon")
    try:
        return coupons_pdf(inserts, size)
    except CouponError as error:
        raise JobError(f"coupons: {error}") from None


def packing_list(cards: Sequence[Card]) -> str:
    """CSV, one row a card in card order: order mark, job id, recipient, coupon code."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["order", "job_id", "recipient", "coupon_code"])
    for index, (job_id, spec) in enumerate(cards):
        try:
            recipient = ", ".join(address_block(spec))
        except JobError:
            recipient = spec.recipient.name if spec.recipient else ""
        writer.writerow([order_mark(index, len(cards), job_id), job_id, recipient,
                         spec.coupon.code if spec.coupon and spec.coupon.code else ""])
    return out.getvalue()
