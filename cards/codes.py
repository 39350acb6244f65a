"""Coupon codes a customer can read off a card and type without mistakes.

Our codes use a 29-symbol alphabet without look-alikes: no 0/O, 1/I/L (they read as
one another), no U (reads as V, Crockford's reason) and no Z (reads as 2 in handwriting
and small print). The last character is a check character over that alphabet, the
ISBN-10 scheme generalised to the prime 29:

    sum(i * v_i for i = 1..n) == 0  (mod 29)

where ``v_i`` is the alphabet index of the i-th character, the check character last.
Because 29 is prime and the weights 1..n are distinct and non-zero mod 29 (n <= 28):

* every single-character substitution is caught: it changes the sum by
  ``i * (b - a)``, a product of two non-zero residues of a prime, so never 0;
* every transposition of two characters (adjacent or not) is caught: it changes the sum
  by ``(i - j) * (b - a)``, again a product of non-zero residues.

Luhn mod N misses some transpositions, and Damm needs a quasigroup table; a weighted sum
mod a prime is one line and the proof above fits in a comment. A prime alphabet size is
why we drop exactly U and Z from the 31 symbols 2-9 and A-Z without I, L, O.

Codes are shown in groups of 4 joined by "-" (``"K7QM-3XW9"``); what a customer types
back is normalised first (case, dashes, spaces).

>>> check_code("k7qm 3xw9") == check_code("K7QM-3XW9")
True
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterable

import numpy as np

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXY"
BASE = len(ALPHABET)  # 29, a prime: see the module docstring
MAX_LENGTH = BASE - 1  # weights 1..n must be distinct and non-zero mod BASE
MIN_LENGTH = 2  # one data character and the check character
SEPARATORS = frozenset("-\u2010\u2011\u2012\u2013\u2014_ \t\n\u00a0\u202f")  # dashes, spaces

SHOP_CODE_CHARS = frozenset(string.ascii_letters + string.digits + "-_.")
MAX_SHOP_CODE_LENGTH = 24  # still fits a business-card insert in large monospace type

_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
_ALPHABET_BYTES = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)


class CouponCodeError(ValueError):
    """A coupon code that cannot be used; the message names the problem."""


def normalize_code(code: str) -> str:
    """``code`` as typed by a person, in canonical form: upper case, without dashes
    and spaces. Characters outside the alphabet are kept (so :func:`check_code` fails).

    >>> normalize_code(" k7qm-3xw9 ")
    'K7QM3XW9'
    """
    return "".join(ch for ch in code.upper() if ch not in SEPARATORS)


def format_code(code: str, group: int = 4) -> str:
    """``code`` normalised, then in groups of ``group`` characters joined by "-"
    (``group <= 0``: no dashes).

    >>> format_code("k7qm3xw9")
    'K7QM-3XW9'
    """
    plain = normalize_code(code)
    if group <= 0:
        return plain
    return "-".join(plain[i:i + group] for i in range(0, len(plain), group))


def check_code(code: str) -> bool:
    """Whether ``code`` (any case, with or without dashes/spaces) is one of our codes:
    alphabet characters only, a sensible length and a matching check character."""
    plain = normalize_code(code)
    if not MIN_LENGTH <= len(plain) <= MAX_LENGTH:
        return False
    if any(ch not in _INDEX for ch in plain):
        return False
    return sum(i * _INDEX[ch] for i, ch in enumerate(plain, start=1)) % BASE == 0


def _check_values(data: np.ndarray) -> np.ndarray:
    """Check character indices for rows of data indices (shape ``(k, n - 1)``)."""
    n = data.shape[1] + 1
    weights = np.arange(1, n, dtype=np.int64)
    partial = data.astype(np.int64) @ weights
    # n * v_n == -partial (mod BASE); n is invertible because BASE is prime and n < BASE
    return (-partial * pow(n, -1, BASE)) % BASE


def _codes_from_data(data: np.ndarray, group: int) -> list[str]:
    """Formatted codes (check character appended, grouped) for rows of data indices."""
    values = np.concatenate([data, _check_values(data)[:, None]], axis=1)
    chars = _ALPHABET_BYTES[values]
    length = values.shape[1]
    if group > 0:
        dashes = list(range(group, length, group))
        chars = np.insert(chars, dashes, ord("-"), axis=1)
    chars = np.ascontiguousarray(chars)
    rows = chars.view(f"S{chars.shape[1]}").ravel()
    return [row.decode("ascii") for row in rows.tolist()]


def _check_length(length: int) -> None:
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise CouponCodeError(
            f"code length {length} is out of range: {MIN_LENGTH} to {MAX_LENGTH} characters "
            f"(the check character included)"
        )


def generate_code(rng: np.random.Generator | random.Random, length: int = 8,
                  group: int = 4) -> str:
    """A random code of ``length`` characters (the last one the check character), in
    groups of ``group`` joined by "-", drawn from ``rng`` (seeded by the caller).

    Codes are random, not unique: with 8 characters there are 29**7 (1.7e10) codes, and
    among 100 000 independent ones a repeat has a chance of about 1 in 4 (birthday
    bound). Use :func:`unique_codes` to hand out codes within a shop.

    >>> check_code(generate_code(np.random.default_rng(1)))
    True
    """
    _check_length(length)
    if isinstance(rng, random.Random):
        data = np.array([[rng.randrange(BASE) for _ in range(length - 1)]], dtype=np.int64)
    else:
        data = rng.integers(0, BASE, size=(1, length - 1), dtype=np.int64)
    return _codes_from_data(data, group)[0]


def unique_codes(count: int, existing: Iterable[str], seed: int | np.random.Generator, *,
                 length: int = 8, group: int = 4) -> list[str]:
    """``count`` new codes, none of them in ``existing`` (compared normalised, so the
    shop's codes may come in any case or grouping) and none repeated; deterministic for
    an integer ``seed``. Raises :class:`CouponCodeError` when the code space of that
    length cannot hold that many more codes."""
    _check_length(length)
    if count < 0:
        raise CouponCodeError(f"cannot make {count} codes")
    seen = {normalize_code(code) for code in existing}
    space = BASE ** (length - 1)
    taken = sum(1 for code in seen if len(code) == length and check_code(code))
    if count > space - taken:
        raise CouponCodeError(
            f"cannot make {count} more codes of length {length}: only {space - taken} of "
            f"{space} are still free; use longer codes"
        )
    rng = np.random.default_rng(seed)
    codes: list[str] = []
    while len(codes) < count:
        need = count - len(codes)
        # a little more than needed: few rounds when nearly all draws are new
        data = rng.integers(0, BASE, size=(max(64, need + need // 8), length - 1),
                            dtype=np.int64)
        for code in _codes_from_data(data, group):
            plain = code.replace("-", "")
            if plain in seen:
                continue
            seen.add(plain)
            codes.append(code)
            if len(codes) == count:
                break
    return codes


def validate_shop_code(code: str) -> str:
    """A code the shop chose (e.g. ``"SORRY-10"``), checked for what an insert and a
    redeem link can carry: ASCII letters, digits, "-", "_" and ".", at most
    :data:`MAX_SHOP_CODE_LENGTH` characters. Returns it without surrounding whitespace,
    case kept (the shop's system decides what matches); raises :class:`CouponCodeError`
    naming the offending characters or by how much it is too long."""
    stripped = code.strip()
    if not stripped:
        raise CouponCodeError("the coupon code is empty")
    bad = sorted(set(stripped) - SHOP_CODE_CHARS)
    if bad:
        listed = ", ".join(repr(ch) for ch in bad)
        raise CouponCodeError(
            f"coupon code {stripped!r} has characters a coupon code cannot carry: {listed} "
            f"(allowed: ASCII letters, digits, '-', '_', '.')"
        )
    if len(stripped) > MAX_SHOP_CODE_LENGTH:
        raise CouponCodeError(
            f"coupon code {stripped!r} is {len(stripped)} characters long, "
            f"{len(stripped) - MAX_SHOP_CODE_LENGTH} more than the {MAX_SHOP_CODE_LENGTH} "
            f"that fit an insert"
        )
    return stripped
