"""GRBL 1.1's error and alarm codes and what they mean, read from the CSV tables GRBL
ships in ``doc/csv`` (copied unchanged to ``plotter/data``).

>>> error_meaning(11)
'Line overflow: Max characters per line exceeded. Received command line was not executed.'
>>> alarm_meaning(2).split(".")[0]
'Soft limit: Soft limit alarm'
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Code:
    """One GRBL code: its number, short message and description."""

    number: int
    message: str
    description: str

    def __str__(self) -> str:
        return f"{self.message}: {self.description}"


def _read(name: str) -> dict[int, Code]:
    text = (resources.files("plotter") / "data" / name).read_text(encoding="utf-8")
    codes: dict[int, Code] = {}
    for row in csv.reader(io.StringIO(text)):
        # the first row is a header ("Error Code in v1.1+ ..." or "(KEY: ...")
        if len(row) < 3 or not row[0].strip().isdigit():
            continue
        number = int(row[0])
        # a description may itself hold commas: everything after the message is it
        codes[number] = Code(number, row[1].strip(), ",".join(row[2:]).strip())
    return codes


@cache
def error_codes() -> dict[int, Code]:
    """``error:N`` codes of GRBL 1.1, by number."""
    return _read("error_codes_en_US.csv")


@cache
def alarm_codes() -> dict[int, Code]:
    """``ALARM:N`` codes of GRBL 1.1, by number."""
    return _read("alarm_codes_en_US.csv")


def error_meaning(number: int) -> str:
    """GRBL's meaning of ``error:number``, or a note that the code is unknown."""
    code = error_codes().get(number)
    return str(code) if code else f"unknown GRBL error code {number}"


def alarm_meaning(number: int) -> str:
    """GRBL's meaning of ``ALARM:number``, or a note that the code is unknown."""
    code = alarm_codes().get(number)
    return str(code) if code else f"unknown GRBL alarm code {number}"
