"""The job format: validation errors name the field; templates fill merge fields."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.schema import JobError, parse_job

BASE = {"message": "Es tut uns leid.", "seed": 1}


def test_minimal_job_has_defaults() -> None:
    spec = parse_job(BASE)
    assert spec.card == "a6-landscape" and spec.font == "hershey-script" and spec.variation == 1.0


@pytest.mark.parametrize(("change", "field"), [
    ({"variation": 5}, "variation"),
    ({"seed": -1}, "seed"),
    ({"recipient": {"name": "A", "street_lines": ["x"]}}, "recipient.city"),
    ({"recipient": {"name": "A", "street_lines": ["x"], "city": "B", "country": "Germany"}},
     "recipient.country"),
    ({"coupon": {"kind": "percent", "amount": "150"}}, "coupon"),
    ({"colour": "red"}, "colour"),
])
def test_errors_name_the_field(change: dict, field: str) -> None:
    with pytest.raises(JobError) as info:
        parse_job({**BASE, **change})
    assert str(info.value).startswith(field)


def test_message_or_template_but_not_both() -> None:
    with pytest.raises(JobError, match="exactly one of 'message' or 'template'"):
        parse_job({"message": "a", "template": "b"})
    with pytest.raises(JobError, match="exactly one"):
        parse_job({"seed": 1})


def test_template_fills_fields_and_names_a_missing_one() -> None:
    spec = parse_job({"greeting": "Liebe {{ vorname }},", "template": "Bestellung {{ nr }}.",
                      "fields": {"vorname": "Anna", "nr": 17}})
    assert spec.texts()["greeting"] == "Liebe Anna,"
    assert spec.texts()["body"] == "Bestellung 17."
    missing = parse_job({"template": "Hallo {{ vorname }}", "fields": {}})
    with pytest.raises(JobError, match="merge field 'vorname'"):
        missing.texts()


def test_a_lookup_on_a_field_without_it_names_the_expression() -> None:
    spec = parse_job({"template": "Bestellung {{ nr }}: {{ nr.datum }}", "fields": {"nr": 17}})
    with pytest.raises(JobError) as info:
        spec.texts()
    assert str(info.value) == ("template: the expression {{ nr.datum }} fails: "
                               "'int object' has no attribute 'datum'")
    assert "merge field" not in str(info.value)
    spec = parse_job({"greeting": "Hallo {{ name[0].x }}", "template": "x",
                      "fields": {"name": "Anna"}})
    with pytest.raises(JobError, match=r"^greeting: the expression \{\{ name\[0\]\.x \}\}"):
        spec.texts()


def test_a_template_that_fails_to_compute_is_a_job_error() -> None:
    spec = parse_job({"template": "Rabatt {{ nr / 0 }}", "fields": {"nr": 17}})
    with pytest.raises(JobError, match="template: the template fails: ZeroDivisionError"):
        spec.texts()


def test_template_runs_in_a_sandbox() -> None:
    spec = parse_job({"template": "{{ ''.__class__.__mro__ }}", "fields": {}})
    with pytest.raises(JobError):
        spec.texts()


def test_json_text_and_bad_json() -> None:
    assert parse_job(json.dumps(BASE)).seed == 1
    with pytest.raises(JobError, match="message"):
        parse_job('{"message": 5}')


@given(st.dictionaries(st.sampled_from(["card", "font", "message", "seed", "variation",
                                        "template", "fields", "language", "x_height_mm"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=20), st.floats(),
                                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))))
@settings(deadline=None)  # the first examples load pydantic's validators: slow under load
def test_any_body_is_a_job_or_a_job_error(data: dict) -> None:
    try:
        parse_job(data)
    except JobError as error:
        assert str(error)
