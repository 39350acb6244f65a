"""Rendering a job: the job spec becomes a card layout and its files (SVG, PNG preview).

Everything is computed in memory first and written only when all of it succeeded, each
file through a temporary name and an atomic rename, so a failed job leaves nothing
half-made.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cards.address import AddressError, PostalAddress, address_lines
from cards.envelope import (
    AddressTooLongError,
    EnvelopeLayout,
    UnknownEnvelopeFormatError,
    envelope_format,
    layout_envelope,
)
from cards.formats import UnknownCardFormatError, card_format
from cards.layout import (
    CardLayout,
    CardText,
    TextTooLongError,
    check_characters,
    fit_text,
    layout_card,
)
from cards.preview import ink_rgb, render_pdf, render_png
from cards.printfont import describe, missing
from fonts.catalog import UnknownFontError, load_font
from fonts.charset import UnsupportedCharactersError, normalize_text
from fonts.variation import Variation
from jobs.schema import MAX_SEED, Address, JobError, JobSpec
from plotter.drawing import Drawing
from plotter.gcode import BedLimitError, read_program, write_gcode
from plotter.optimize import optimize
from plotter.planner import plan
from plotter.profile import MachineProfile, UnknownProfileError, load_profile

DEFAULT_PROFILE = "grbl-servo"


@dataclass(frozen=True, eq=False)
class RenderedCard:
    """A rendered job: the spec with its seed recorded, the layout, and file contents."""

    spec: JobSpec
    layout: CardLayout
    drawing: Drawing  # the optimised drawing: previewed and plotted alike
    files: dict[str, bytes]
    profile: str
    plot_seconds: float

    def summary(self) -> str:
        """One line for a person: what was written and how."""
        d = self.drawing
        minutes, seconds = divmod(round(self.plot_seconds), 60)
        return (
            f"{self.layout.word_count} words in {self.layout.font} on {self.layout.card}, "
            f"x-height {self.layout.x_height_mm:.2f} mm, {len(self.layout.lines)} lines, "
            f"{d.pen_lifts()} pen lifts, ink {d.ink_length_mm() / 1000:.2f} m, "
            f"pen-up travel {d.pen_up_travel_mm() / 1000:.2f} m, "
            f"plot time {minutes}:{seconds:02d} on {self.profile}, seed {self.spec.seed}"
        )


def choose_seed() -> int:
    """A fresh random seed, to be stored with the job."""
    return secrets.randbelow(MAX_SEED)


def card_text(spec: JobSpec) -> CardText:
    """The texts of ``spec`` (merge fields filled in) as the layout takes them."""
    texts = spec.texts()
    return CardText(body=texts["body"], greeting=texts["greeting"], closing=texts["closing"],
                    signature=texts["signature"], language=spec.language)


def layout_job(spec: JobSpec) -> tuple[JobSpec, CardLayout]:
    """Lay the job's card out; a missing seed is chosen and recorded in the returned spec.
    Errors (unknown font or card, characters, length) are :class:`JobError`s naming them."""
    if spec.seed is None:
        spec = spec.model_copy(update={"seed": choose_seed()})
    assert spec.seed is not None
    try:
        font = load_font(spec.font)
        card = card_format(spec.card)
    except (UnknownFontError, UnknownCardFormatError) as error:
        raise JobError(str(error)) from None
    try:
        layout = layout_card(card_text(spec), font, card, seed=spec.seed,
                             variation=Variation(strength=spec.variation),
                             x_height_mm=spec.x_height_mm, font_name=spec.font)
    except ValueError as error:  # unsupported characters, too long, nothing to write
        raise JobError(str(error)) from None
    return spec, layout


def validate_job(spec: JobSpec) -> float:
    """Check, without drawing, that ``spec`` can be rendered: font and card known, every
    character writable, the text fits. Returns the x-height (mm) it will be written at.
    The same checks :func:`layout_job` makes, so a job that passes here renders; each
    error names its field (``font: unknown font …``, ``greeting: font 'tech' cannot …``)."""
    try:
        font = load_font(spec.font)
    except UnknownFontError as error:
        raise JobError(f"font: {error}") from None
    try:
        card = card_format(spec.card)
    except UnknownCardFormatError as error:
        raise JobError(f"card: {error}") from None
    text = card_text(spec)
    try:
        if not any(t.strip() for _, t in text.blocks()):
            raise ValueError("message: there is nothing to write, the text is empty")
        check_characters(text, font)
        x_height_mm, _ = fit_text(text, font, card, spec.x_height_mm)
    except UnsupportedCharactersError as error:
        texts = spec.texts()
        where = [("message" if k == "body" else k) for k, v in texts.items()
                 if any(c in normalize_text(v) for c in error.chars)] or ["message"]
        raise JobError(f"{', '.join(where)}: {error}") from None
    except TextTooLongError as error:
        raise JobError(f"message: {error}") from None
    except ValueError as error:
        raise JobError(str(error)) from None
    try:
        ink_rgb(spec.ink)
    except ValueError as error:
        raise JobError(f"ink: {error}") from None
    check_printed_addresses(spec)
    if spec.delivery == "envelope":
        layout_envelope_for(spec if spec.seed is not None else spec.model_copy(update={"seed": 0}))
    return x_height_mm


def postal(address: Address) -> PostalAddress:
    """The address model of the printed companions for a job's address."""
    return PostalAddress(name=address.name, company=address.company,
                         street_lines=tuple(address.street_lines), postcode=address.postcode,
                         city=address.city, region=address.region, country=address.country)


def address_block(spec: JobSpec, role: str = "recipient") -> list[str]:
    """The recipient's (or sender's) address as printed lines, formatted for its country
    and, abroad, with the destination country in the sender's language; a malformed
    address is a :class:`JobError` naming the field and the rule."""
    address = spec.recipient if role == "recipient" else spec.sender
    if address is None:
        return []
    sender_country = spec.sender.country if spec.sender is not None else "DE"
    try:
        return address_lines(postal(address), sender_country=sender_country, role=role)
    except AddressError as error:
        raise JobError(_address_message(error, role)) from None


def check_printed_addresses(spec: JobSpec) -> None:
    """Check that the job's addresses are well-formed and that the print font
    (:mod:`cards.printfont`) can show every character of the lines it prints: the
    recipient on the preview's address page and the label sheet (delivery 'label'), the
    sender on the coupon insert. A :class:`JobError` names each field with the characters
    it lacks (``recipient.name: … '中' (U+4E2D CJK UNIFIED IDEOGRAPH-4E2D)``)."""
    printed = {"recipient": spec.delivery == "label", "sender": spec.coupon is not None}
    problems = []
    for role, is_printed in printed.items():
        lines = address_block(spec, role)
        bad = missing("".join(lines)) if is_printed else []
        if not bad:
            continue
        address = spec.recipient if role == "recipient" else spec.sender
        assert address is not None
        unplaced = dict.fromkeys(bad)
        for field, value in address.model_dump(exclude_none=True).items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            here = [c for c in bad if c in text]
            if here:
                problems.append(f"{role}.{field}: the printed address cannot show "
                                f"{describe(here)}")
                for char in here:
                    unplaced.pop(char, None)
        if unplaced:  # made by the formatting (a country's name), in no field as given
            problems.append(f"{role}: the printed address cannot show "
                            f"{describe(list(unplaced))}")
    if problems:
        raise JobError("\n".join(problems))


def _address_message(error: AddressError, role: str) -> str:
    field = getattr(error, "field", None)
    return f"{role}.{field}: {error}" if field else f"{role}: {error}"


def layout_envelope_for(spec: JobSpec) -> EnvelopeLayout | None:
    """The handwritten envelope of a job with delivery 'envelope' (same font, variation
    and seed as its card), or None; problems are :class:`JobError` s naming them."""
    if spec.delivery != "envelope":
        return None
    assert spec.seed is not None
    try:
        envelope = envelope_format(spec.envelope)
    except UnknownEnvelopeFormatError as error:
        raise JobError(f"envelope: {error}") from None
    recipient = address_block(spec, "recipient")
    sender = address_block(spec, "sender")
    try:
        return layout_envelope(recipient, sender, load_font(spec.font), envelope,
                               seed=spec.seed, variation=Variation(strength=spec.variation),
                               font_name=spec.font)
    except AddressTooLongError as error:
        raise JobError(f"{error.role}: {error}") from None
    except UnsupportedCharactersError as error:
        raise JobError(f"recipient: {error}") from None


def render_companions(rendered: RenderedCard, *, profile: str | MachineProfile = DEFAULT_PROFILE
                      ) -> dict[str, bytes]:
    """The files that go with a rendered card: the preview PDF (the card at true size,
    and the envelope or the label address on page 2), and for delivery 'envelope' the
    envelope's SVG and G-code, plotted after the card."""
    spec = rendered.spec
    machine = resolve_profile(profile)
    files: dict[str, bytes] = {}
    envelope = layout_envelope_for(spec)
    envelope_drawing = None
    if envelope is not None:
        envelope_drawing, gcode, _ = plotter_output(envelope.drawing, machine)
        files["envelope.svg"] = envelope_drawing.to_svg(
            title=f"penpost envelope, seed {spec.seed}").encode("utf-8")
        files["envelope.gcode"] = gcode.encode("ascii")
    lines = address_block(spec) if spec.delivery == "label" else []
    try:
        files["preview.pdf"] = render_pdf(rendered.drawing, address_lines=lines or None,
                                          envelope=envelope_drawing, ink=ink_rgb(spec.ink),
                                          title=f"penpost card, seed {spec.seed}")
    except ValueError as error:  # the label font lacks a character of the address
        raise JobError(f"recipient: {error}") from None
    return files


def resolve_profile(profile: str | MachineProfile) -> MachineProfile:
    """A machine profile by name (or as given); unknown names are a :class:`JobError`."""
    if isinstance(profile, MachineProfile):
        return profile
    try:
        return load_profile(profile)
    except UnknownProfileError as error:
        raise JobError(str(error)) from None


def plotter_output(drawing: Drawing, profile: MachineProfile) -> tuple[Drawing, str, float]:
    """The optimised drawing, its G-code and the estimated plot time in seconds.
    A drawing off the profile's bed is a :class:`JobError` naming stroke and limit."""
    optimised = optimize(drawing)
    try:
        gcode = write_gcode(optimised, profile)
    except BedLimitError as error:
        raise JobError(f"the card does not fit machine profile {profile.name!r}: {error}") from None
    seconds = plan(read_program(gcode, profile), profile).total_s
    return optimised, gcode, seconds


def render_job(spec: JobSpec, *, dpi: int = 300,
               profile: str | MachineProfile = DEFAULT_PROFILE) -> RenderedCard:
    """Render ``spec`` into ``card.svg``, ``card.png``, ``card.gcode`` and ``job.json``
    (the spec with its seed), all in memory. Preview and G-code draw the same optimised
    drawing: what is approved is what is plotted."""
    machine = resolve_profile(profile)
    spec, layout = layout_job(spec)
    if spec.coupon is not None and not spec.coupon.code:
        # no store to keep codes unique (the service assigns them at submit): a code
        # drawn from the job's seed, recorded in job.json like the seed
        import random

        from cards.codes import generate_code

        code = generate_code(random.Random(spec.seed))
        spec = spec.model_copy(update={"coupon": spec.coupon.model_copy(update={"code": code})})
    drawing, gcode, seconds = plotter_output(layout.drawing, machine)
    files = {
        "card.svg": drawing.to_svg(title=f"penpost card, seed {spec.seed}").encode("utf-8"),
        "card.png": render_png(drawing, dpi=dpi, ink=ink_rgb(spec.ink)),
        "card.gcode": gcode.encode("ascii"),
        "job.json": (json.dumps(spec.model_dump(mode="json", exclude_none=True), indent=2,
                                ensure_ascii=False) + "\n").encode("utf-8"),
    }
    return RenderedCard(spec=spec, layout=layout, drawing=drawing, files=files,
                        profile=machine.name, plot_seconds=seconds)


def write_outputs(files: dict[str, bytes], out_dir: str | Path) -> list[Path]:
    """Write ``files`` into ``out_dir`` (created if needed), each atomically; returns paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        target = out / name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written
