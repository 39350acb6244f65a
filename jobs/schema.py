"""The job format: one card to write, as a JSON file for the CLI and the body the HTTP API
takes. Validated with pydantic; every error names the field it is about.
"""

from __future__ import annotations

import json
import re
import time
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import StrictUndefined, Template, TemplateError, UndefinedError, nodes
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MAX_SEED = 2**63 - 1


class JobError(ValueError):
    """A job that cannot be written, with a message naming the field and the problem."""


class Address(BaseModel):
    """A postal address (formatted per country by the address module)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=120)
    company: str | None = Field(default=None, max_length=120)
    street_lines: list[str] = Field(min_length=1, max_length=3)
    postcode: str = Field(default="", max_length=16)
    city: str = Field(min_length=1, max_length=80)
    region: str | None = Field(default=None, max_length=80)
    country: str = Field(default="DE", pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class Coupon(BaseModel):
    """A coupon insert: an amount of money or a percentage off."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["amount", "percent"]
    amount: Decimal = Field(gt=0, max_digits=9, decimal_places=2)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    code: str | None = Field(default=None, max_length=32)
    expires: date | None = None
    redeem_url: str | None = Field(default=None, max_length=300)

    @model_validator(mode="after")
    def _percent_range(self) -> Coupon:
        if self.kind == "percent" and self.amount > 100:
            raise ValueError(f"a percent coupon cannot exceed 100, got {self.amount}")
        return self


class JobSpec(BaseModel):
    """One card: what to write, in which hand, on which card stock."""

    model_config = ConfigDict(extra="forbid")

    card: str = Field(default="a6-landscape", description="card format name")
    font: str = Field(default="hershey-script", description="bundled handwriting font name")
    language: Literal["de", "en", "de-at", "de-ch", "en-gb", "en-us"] = "de"
    greeting: str = Field(default="", max_length=200)
    message: str | None = Field(default=None, max_length=4000)
    template: str | None = Field(default=None, max_length=4000)
    fields: dict[str, str | int | float] = Field(default_factory=dict)
    closing: str = Field(default="", max_length=200)
    signature: str = Field(default="", max_length=200)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED,
                             description="variation seed; chosen and recorded when absent")
    variation: float = Field(default=1.0, ge=0.0, le=3.0, description="0 = the font as drawn")
    x_height_mm: float | None = Field(default=None, gt=0.5, le=10.0,
                                      description="fixed handwriting size; auto-fit when absent")
    recipient: Address | None = None
    sender: Address | None = None
    coupon: Coupon | None = None
    ink: str = Field(default="blue-black", pattern=r"^[a-z][a-z0-9-]{0,39}$",
                     description="pen colour the card is written in (the station asks for it)")
    delivery: Literal["label", "envelope", "none"] = Field(
        default="label", description="how the address reaches the envelope: a printed label, "
                                     "an envelope written by the plotter after the card, or none")
    envelope: str = Field(default="c6", max_length=20,
                          description="envelope format for delivery 'envelope'")

    @model_validator(mode="after")
    def _message_or_template(self) -> JobSpec:
        if (self.message is None) == (self.template is None):
            raise ValueError("give exactly one of 'message' or 'template'")
        if self.message is not None and not self.message.strip():
            raise ValueError("'message' is empty")
        if self.template is not None and not self.template.strip():
            raise ValueError("'template' is empty")
        if self.fields and self.template is None:
            raise ValueError("'fields' are only used with a 'template'")
        if self.delivery == "envelope" and self.recipient is None:
            raise ValueError("delivery 'envelope' needs a 'recipient' to write on it")
        return self

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"merge field name {name!r} is not a valid identifier")
        return value

    def texts(self) -> dict[str, str]:
        """Greeting, body, closing and signature with merge fields filled in."""
        if self.template is None:
            assert self.message is not None
            return {"greeting": self.greeting, "body": self.message, "closing": self.closing,
                    "signature": self.signature}
        return {
            "greeting": render_template(self.greeting, self.fields, "greeting"),
            "body": render_template(self.template, self.fields, "template"),
            "closing": render_template(self.closing, self.fields, "closing"),
            "signature": render_template(self.signature, self.fields, "signature"),
        }


MAX_TEMPLATE_CHARS = 20_000  # a filled-in text is longer than any card holds long before
MAX_TEMPLATE_LOOP = 1_000  # longest range() a template may loop over
MAX_TEMPLATE_S = 1.0  # seconds a template may take to fill in
# str methods that pad to a width the template chooses (format: "{:>99999999}"): a merge
# text never needs them
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "format",
                            "format_map"})
# filters that do the same, or call what the template names
_WIDTH_FILTERS = ("center", "indent", "wordwrap", "format", "filesizeformat", "map",
                  "attr", "xmlattr")


class _TemplateTooCostly(Exception):
    """A template that would build a huge text or run too long."""


class _BoundedSandbox(SandboxedEnvironment):
    """Jinja2's sandbox (no Python internals) that also cannot be made to exhaust the
    service: ``*`` and ``**`` are checked before they build a long text or a huge
    number, padding (str methods, filters, ``%`` formatting) is gone, ``range`` is short,
    loops do not nest (:func:`_check_shape`), and rendering stops at
    :data:`MAX_TEMPLATE_CHARS` of output or after :data:`MAX_TEMPLATE_S`."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (isinstance(seq, (str, list, tuple)) and isinstance(times, int)
                        and len(seq) * times > MAX_TEMPLATE_CHARS):
                    raise _TemplateTooCostly(f"'*' would make {len(seq) * times} items")
        elif operator == "%" and isinstance(left, str):  # "%99999999s" % x pads like center
            raise _TemplateTooCostly("'%' formatting is not available in templates")
        elif operator == "**" and isinstance(right, (int, float)):
            bits = left.bit_length() if isinstance(left, int) else 64
            if abs(right) > 64 or bits * abs(right) > 4096:
                raise _TemplateTooCostly(f"'**' would make a number of {bits} x {right} bits")
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # before the sandbox's own lookup, which hands out str.format wrapped
        if isinstance(obj, str) and attribute in _WIDTH_METHODS:
            return self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        # 'a'['center'] is the same lookup
        if isinstance(obj, str) and isinstance(argument, str) and argument in _WIDTH_METHODS:
            return self.unsafe_undefined(obj, argument)
        return super().getitem(obj, argument)


def _short_range(*args: int) -> range:
    """``range`` for templates, at most :data:`MAX_TEMPLATE_LOOP` long."""
    numbers = range(*args)
    if len(numbers) > MAX_TEMPLATE_LOOP:
        raise _TemplateTooCostly(f"range() of {len(numbers)} numbers (at most {MAX_TEMPLATE_LOOP})")
    return numbers


_ENV = _BoundedSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENV.globals["range"] = _short_range
for _name in _WIDTH_FILTERS:
    _ENV.filters.pop(_name, None)


def _check_shape(tree: nodes.Template) -> None:
    """Refuse what makes a template's work grow faster than its input: loops inside loops,
    recursive loops, macros and call blocks (which nest loops by calling), and anything
    that loads another template."""
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            raise _TemplateTooCostly("a recursive loop")
        if next(loop.find_all(nodes.For), None) is not None:
            raise _TemplateTooCostly("a loop inside a loop")
    for kind, what in ((nodes.Macro, "a macro"), (nodes.CallBlock, "a call block"),
                       (nodes.Include, "an include"), (nodes.Import, "an import"),
                       (nodes.FromImport, "an import"), (nodes.Extends, "extends")):
        if next(tree.find_all(kind), None) is not None:
            raise _TemplateTooCostly(f"{what} is not available in templates")


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    """``source`` parsed once, checked (:func:`_check_shape`) and compiled: a batch fills
    one template for every row."""
    tree = _ENV.parse(source)
    _check_shape(tree)
    return _ENV.from_string(tree)


def _template_error(error: Exception, where: str) -> JobError:
    """The :class:`JobError` for a template that cannot be read or costs too much."""
    if isinstance(error, _TemplateTooCostly):
        return JobError(f"{where}: the template is too costly to fill in: {error}")
    return JobError(f"{where}: the template cannot be read ({error})")


def _fill(source: str, fields: dict[str, Any]) -> str:
    """Render ``source`` piece by piece, stopping when it grows too long or too slow."""
    template = _compiled(source)
    deadline = time.monotonic() + MAX_TEMPLATE_S
    pieces: list[str] = []
    size = 0
    for piece in template.generate(**fields):
        size += len(piece)
        if size > MAX_TEMPLATE_CHARS:
            raise _TemplateTooCostly(f"the text grows beyond {MAX_TEMPLATE_CHARS} characters")
        if time.monotonic() > deadline:
            raise _TemplateTooCostly(f"filling it in takes longer than {MAX_TEMPLATE_S:g} s")
        pieces.append(piece)
    return "".join(pieces)


def check_template(source: str, where: str) -> None:
    """Raise :class:`JobError` naming ``where`` when ``source`` cannot be read as a
    template or has a shape templates may not have (:func:`_check_shape`); nothing is
    filled in, so merge fields need not be given."""
    try:
        _compiled(source)
    except (_TemplateTooCostly, TemplateError) as error:
        raise _template_error(error, where) from None


def render_template(source: str, fields: dict[str, Any], where: str) -> str:
    """``source`` with ``{{ name }}`` merge fields filled from ``fields``, in Jinja2's
    sandbox; a missing field or a broken template is a :class:`JobError` naming it."""
    if "{" not in source:
        return source
    try:
        return _fill(source, fields)
    except _TemplateTooCostly as error:
        raise _template_error(error, where) from None
    except UndefinedError as error:
        message = str(error.message or error)
        missing = re.fullmatch(r"'(\w+)' is undefined", message)
        if missing:
            raise JobError(f"{where}: merge field {missing.group(1)!r} is not given in "
                           f"'fields'") from error
        # an attribute or item of a value that has none: "'int object' has no attribute 'b'"
        expression = _failing_expression(source, fields, message)
        shown = f"the expression {{{{ {expression} }}}}" if expression else "an expression"
        raise JobError(f"{where}: {shown} fails: {message}") from error
    except TemplateError as error:
        raise _template_error(error, where) from error
    except (ArithmeticError, TypeError, ValueError, LookupError) as error:  # {{ 1/0 }}
        raise JobError(f"{where}: the template fails: {type(error).__name__}: {error}") from error


def _failing_expression(source: str, fields: dict[str, Any], message: str) -> str | None:
    """The ``a.b`` or ``a[0]`` of ``source`` whose lookup raised ``message``: the first,
    in the order of the template, that fails alone with the same message."""
    found = re.search(r"has no (?:attribute '(.*)'|element (.*))$", message)
    if found is None:
        return None
    key = found.group(1) if found.group(1) is not None else found.group(2)
    candidates = []
    for node in _ENV.parse(source).find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node.arg, nodes.Const):
            name = node.arg.value
            if found.group(2) is not None:
                name = repr(name)
        else:
            continue
        if str(name) == key:
            candidates.append(_expression_text(node))
    for text in candidates:
        if "…" in text:
            continue
        try:
            _ENV.from_string(f"{{{{ {text} }}}}").render(**fields)
        except UndefinedError as error:
            if str(error.message or error) == message:
                return text
        except TemplateError:
            continue
    return candidates[0] if candidates else None


def _expression_text(node: nodes.Node) -> str:
    """A lookup expression written back as Jinja text (``a.b``, ``a[0]``); "…" for any
    part that is not a name, a constant or a lookup."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        return repr(node.value)
    if isinstance(node, nodes.Getattr):
        return f"{_expression_text(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        return f"{_expression_text(node.node)}[{_expression_text(node.arg)}]"
    return "…"


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming its field: ``recipient.city: Field required``."""
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "job"
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        lines.append(f"{where}: {message}")
    return "\n".join(lines)


def parse_job(data: dict[str, Any] | str | bytes) -> JobSpec:
    """A :class:`JobSpec` from a dict or JSON text; :class:`JobError` names each problem."""
    try:
        if isinstance(data, (str, bytes)):
            return JobSpec.model_validate_json(data)
        return JobSpec.model_validate(data)
    except ValidationError as error:
        raise JobError(describe_validation_error(error)) from None


def load_job(path: str | Path) -> JobSpec:
    """Read and validate a job file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise JobError(f"cannot read job file {path}: {error.strerror}") from None
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise JobError(f"{path.name}: not valid JSON (line {error.lineno}, column {error.colno}: "
                       f"{error.msg})") from None
    return parse_job(text)
