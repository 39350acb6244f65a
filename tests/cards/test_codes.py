"""Coupon codes: alphabet, check character, normalisation, uniqueness, shop codes."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.codes import (
    ALPHABET,
    MAX_LENGTH,
    MAX_SHOP_CODE_LENGTH,
    CouponCodeError,
    check_code,
    format_code,
    generate_code,
    normalize_code,
    unique_codes,
    validate_shop_code,
)

LOOK_ALIKES = "01OIL"


@pytest.fixture
def sample_codes():
    """Factory: ``count`` codes of ``length`` characters, ungrouped, from a fixed seed."""

    def make(count: int, length: int = 8) -> list[str]:
        return unique_codes(count, set(), seed=7, length=length, group=0)

    return make


def test_alphabet_has_no_look_alikes_and_a_prime_size() -> None:
    assert not set(LOOK_ALIKES) & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET)
    n = len(ALPHABET)
    assert all(n % d for d in range(2, n))  # prime: the check character's guarantees need it


@pytest.mark.parametrize("make_rng", [np.random.default_rng, random.Random],
                         ids=["numpy", "random"])
def test_generated_codes_are_grouped_valid_and_seeded(make_rng) -> None:
    code = generate_code(make_rng(3))
    assert re.fullmatch(rf"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}", code)
    assert check_code(code)
    assert generate_code(make_rng(3)) == code
    assert generate_code(make_rng(4)) != code


@pytest.mark.parametrize(("length", "group", "pattern"), [
    (8, 4, r"\w{4}-\w{4}"), (10, 4, r"\w{4}-\w{4}-\w{2}"), (6, 3, r"\w{3}-\w{3}"),
    (12, 0, r"\w{12}"), (2, 4, r"\w{2}"), (MAX_LENGTH, 7, r"\w{7}(-\w{7}){3}"),
])
def test_lengths_and_groups(length: int, group: int, pattern: str) -> None:
    code = generate_code(np.random.default_rng(1), length=length, group=group)
    assert re.fullmatch(pattern, code)
    assert check_code(code)


@pytest.mark.parametrize("length", [0, 1, MAX_LENGTH + 1])
def test_impossible_lengths_are_refused(length: int) -> None:
    with pytest.raises(CouponCodeError, match="length"):
        generate_code(np.random.default_rng(1), length=length)


def test_no_collisions_in_100_000_codes() -> None:
    codes = unique_codes(100_000, set(), seed=2024)
    assert len(set(codes)) == 100_000
    assert all(check_code(code) for code in codes[:2000])
    assert unique_codes(100_000, set(), seed=2024) == codes  # deterministic


def test_unique_codes_skip_the_shops_existing_codes() -> None:
    first = unique_codes(500, set(), seed=5)
    # the same seed draws the same codes first: every one of them must be skipped, whatever
    # case or grouping the shop stored them in
    existing = {code.lower().replace("-", " ") for code in first}
    again = unique_codes(500, existing, seed=5)
    assert not {normalize_code(c) for c in again} & {normalize_code(c) for c in first}
    assert len(set(again)) == 500


def test_unique_codes_fill_the_code_space_then_refuse() -> None:
    space = len(ALPHABET) ** 2  # three characters: two random ones and the check
    codes = unique_codes(space, set(), seed=1, length=3)
    assert len(set(codes)) == space and all(check_code(c) for c in codes)
    with pytest.raises(CouponCodeError, match=r"only 0 of 841"):
        unique_codes(1, set(codes), seed=1, length=3)
    with pytest.raises(CouponCodeError, match="more codes"):
        unique_codes(space + 1, set(), seed=1, length=3)


@pytest.mark.parametrize("length", [8, 13, MAX_LENGTH])
def test_every_single_substitution_is_detected(sample_codes, length: int) -> None:
    for code in sample_codes(40, length):
        assert check_code(code)
        for position in range(length):
            for ch in ALPHABET:
                if ch != code[position]:
                    typo = code[:position] + ch + code[position + 1:]
                    assert not check_code(typo), (code, typo)


@pytest.mark.parametrize("length", [8, 13, MAX_LENGTH])
def test_every_transposition_is_detected(sample_codes, length: int) -> None:
    # adjacent ones (the common typing slip) and any other pair: weights differ mod 29
    for code in sample_codes(40, length):
        for i in range(length):
            for j in range(i + 1, length):
                if code[i] != code[j]:
                    swapped = list(code)
                    swapped[i], swapped[j] = swapped[j], swapped[i]
                    assert not check_code("".join(swapped)), (code, i, j)


def test_normalisation_of_case_dashes_and_spaces() -> None:
    code = generate_code(np.random.default_rng(11))
    plain = code.replace("-", "")
    for typed in (code, code.lower(), plain, plain.lower(), f"  {code[:4]} {code[5:]} ",
                  code.replace("-", "\u2013"), " ".join(plain)):
        assert normalize_code(typed) == plain
        assert check_code(typed)
        assert format_code(typed) == code


@pytest.mark.parametrize("typed", ["", "-", "A", "K7QM-3XW0", "K7QM-3XWO", "K7QM-3XWI",
                                   "K7QM-3XW1", "K7QM-3XWÄ", "X" * (MAX_LENGTH + 1)])
def test_check_code_rejects_malformed(typed: str) -> None:
    assert not check_code(typed)


@given(st.text(max_size=40))
def test_check_code_never_raises_and_normalising_is_idempotent(typed: str) -> None:
    check_code(typed)
    assert normalize_code(normalize_code(typed)) == normalize_code(typed)


@pytest.mark.parametrize(("given_code", "kept"), [
    ("SORRY-10", "SORRY-10"), ("  sorry_10.b ", "sorry_10.b"), ("X" * MAX_SHOP_CODE_LENGTH,) * 2,
])
def test_shop_codes_are_kept_as_the_shop_wrote_them(given_code: str, kept: str) -> None:
    assert validate_shop_code(given_code) == kept


def test_shop_code_errors_name_the_bad_characters() -> None:
    with pytest.raises(CouponCodeError) as info:
        validate_shop_code("SÜẞ 10€/x")
    message = str(info.value)
    for ch in ("'Ü'", "'ẞ'", "' '", "'€'", "'/'"):
        assert ch in message
    assert "'S'" not in message and "'x'" not in message


def test_shop_code_too_long_says_by_how_much() -> None:
    with pytest.raises(CouponCodeError, match=r"\b3 more than the 24\b"):
        validate_shop_code("A" * (MAX_SHOP_CODE_LENGTH + 3))


@pytest.mark.parametrize("empty", ["", "   "])
def test_empty_shop_code(empty: str) -> None:
    with pytest.raises(CouponCodeError, match="empty"):
        validate_shop_code(empty)
