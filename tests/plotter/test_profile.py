"""Machine profiles: the shipped TOML files load, hold a card, document their fields."""

from __future__ import annotations

import dataclasses
import re
from importlib import resources

import pytest

from plotter.profile import (
    MachineProfile,
    PenSettings,
    UnknownProfileError,
    load_profile,
    parse_profile,
    profile_names,
)
from plotter.transform import card_to_machine, footprint_mm

PROFILES = profile_names()
A6 = (148.0, 105.0)
UNIT_SUFFIXES = ("_mm", "_mm_min", "_mm_s2", "_s", "_deg", "_bytes", "_blocks")
# fields whose unit is their kind (text, flags, counts, the servo's own scale)
UNITLESS = {"name", "description", "firmware", "y_up", "pen", "laser_mode", "baud", "kind",
            "up_value", "down_value", "hover_value", "servo_index", "planner_blocks"}


def toml_text(name: str) -> str:
    return (resources.files("plotter") / "profiles" / f"{name}.toml").read_text("utf-8")


def test_the_three_pen_kinds_are_shipped():
    kinds = {(load_profile(n).firmware, load_profile(n).pen.kind) for n in PROFILES}
    assert {("grbl", "servo"), ("grbl", "z"), ("marlin", "marlin-servo")} <= kinds
    assert any(load_profile(n).card_rotation_deg != 0 for n in PROFILES)
    assert any(not load_profile(n).y_up for n in PROFILES)


@pytest.mark.parametrize("name", PROFILES)
def test_shipped_profile_holds_an_a6_card(name):
    profile = load_profile(name)
    assert profile.name == name
    w, h = footprint_mm(profile, *A6)
    assert 0 <= profile.card_offset_x_mm and profile.card_offset_x_mm + w <= profile.bed_width_mm
    assert 0 <= profile.card_offset_y_mm and profile.card_offset_y_mm + h <= profile.bed_height_mm
    assert 0 <= profile.park_x_mm <= profile.bed_width_mm
    assert 0 <= profile.park_y_mm <= profile.bed_height_mm
    corners = card_to_machine([[0, 0], [A6[0], A6[1]]], profile, *A6)
    assert (corners >= 0).all()


@pytest.mark.parametrize("name", PROFILES)
def test_shipped_profile_is_sane(name):
    profile = load_profile(name)
    assert profile.draw_feed_mm_min <= min(profile.max_rate_x_mm_min, profile.max_rate_y_mm_min)
    assert profile.pen.lift_dwell_s >= 0 and profile.pen.lower_dwell_s >= 0
    if profile.pen.kind == "z":
        assert profile.pen.up_z_mm != profile.pen.down_z_mm
    else:
        assert profile.pen.up_value != profile.pen.down_value
    assert (profile.firmware == "marlin") == (profile.pen.kind == "marlin-servo")


@pytest.mark.parametrize("name", PROFILES)
def test_every_value_line_says_its_unit_or_setting(name):
    for line in toml_text(name).splitlines():
        key = re.match(r"(\w+)\s*=", line)
        if key and key.group(1) not in ("description", "firmware", "kind"):
            assert "#" in line, f"{name}.toml: {key.group(1)} has no comment"


def test_units_are_in_the_field_names():
    for cls in (MachineProfile, PenSettings):
        for field in dataclasses.fields(cls):
            assert field.name in UNITLESS or field.name.endswith(UNIT_SUFFIXES), field.name


def test_readme_documents_every_field():
    readme = (resources.files("plotter") / "profiles" / "README.md").read_text("utf-8")
    for cls in (MachineProfile, PenSettings):
        for field in dataclasses.fields(cls):
            if field.name not in ("name", "pen"):
                assert f"`{field.name}`" in readme, field.name
    for name in PROFILES:
        assert f"`{name}`" in readme, f"README's table lacks {name}"


def test_profiles_are_frozen():
    profile = load_profile("grbl-servo")
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.bed_width_mm = 1.0  # type: ignore[misc]


def test_load_by_path(tmp_path):
    path = tmp_path / "my-plotter.toml"
    path.write_text(toml_text("grbl-z"), encoding="utf-8")
    profile = load_profile(path)
    assert profile.name == "my-plotter"
    assert dataclasses.replace(profile, name="grbl-z") == load_profile("grbl-z")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownProfileError, match="grbl-servo"):
        load_profile("no-such-plotter")


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t + "\nspeed = 3\n", "unknown pen field"),
    (lambda t: "colour = 1\n" + t, "unknown field"),
    (lambda t: t.split("[pen]")[0], r"\[pen\] table"),
    (lambda t: t.replace("card_rotation_deg = 0 ", "card_rotation_deg = 45 "), "rotation"),
    (lambda t: t.replace("draw_feed_mm_min = 3000.0", "draw_feed_mm_min = 0.0"), "positive"),
    (lambda t: re.sub(r"bed_width_mm = .*\n", "", t), "bed_width_mm"),
    (lambda t: t.replace("hover_value = 700", "hover_value = 1200"), "hover_value strictly"),
    (lambda t: t.replace("junction_deviation_mm = 0.01", "junction_deviation_mm = 0.01\n"
                         "corner_rounding_mm = 0.02"), "corner_rounding_mm must be between"),
])
def test_bad_profiles_name_the_profile_and_the_field(change, message):
    with pytest.raises(ValueError, match=rf"^profile broken: .*{message}"):
        parse_profile(change(toml_text("grbl-servo")), "broken")
