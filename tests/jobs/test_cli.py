"""The penpost CLI: render writes files that read back; bad input gets a clear error and
leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jobs.cli import app, example_jobs

runner = CliRunner()


def _job(tmp_path: Path, **fields) -> Path:
    data = {"message": "Entschuldigung für die Verspätung!", "seed": 5, "font": "tech", **fields}
    path = tmp_path / "job.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_render_writes_svg_png_gcode_pdf_and_job(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(_job(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"card.svg", "card.png", "card.gcode", "job.json",
                                              "preview.pdf"}
    assert "words in tech on a6-landscape" in result.output and "plot time" in result.output
    assert (out / "card.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "job.json").read_text())["seed"] == 5


def test_render_records_a_chosen_seed(tmp_path: Path) -> None:
    job = tmp_path / "noseed.json"
    job.write_text(json.dumps({"message": "Danke!"}), encoding="utf-8")
    out = tmp_path / "out"
    assert runner.invoke(app, ["render", str(job), "--out", str(out)]).exit_code == 0
    assert isinstance(json.loads((out / "job.json").read_text())["seed"], int)


def _fails(tmp_path: Path, job: Path, *needles: str, extra: list[str] | None = None) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(job), "--out", str(out), *(extra or [])])
    assert result.exit_code == 2
    for needle in needles:
        assert needle in result.output, result.output
    assert "Traceback" not in result.output
    assert not out.exists()  # nothing half-made


def test_unknown_font_lists_the_known_ones(tmp_path: Path) -> None:
    _fails(tmp_path, _job(tmp_path, font="comic"), "unknown font 'comic'", "hershey-script")


def test_unknown_card_lists_the_known_ones(tmp_path: Path) -> None:
    _fails(tmp_path, _job(tmp_path, card="a4"), "unknown card format 'a4'", "a6-landscape")


def test_emoji_is_named(tmp_path: Path) -> None:
    _fails(tmp_path, _job(tmp_path, message="Sorry 🙈"), "U+1F648")


def test_too_long_says_by_how_much(tmp_path: Path) -> None:
    _fails(tmp_path, _job(tmp_path, message="Wir bitten vielmals um Entschuldigung. " * 60),
           "too long", "lines")


def test_bad_field_is_named(tmp_path: Path) -> None:
    _fails(tmp_path, _job(tmp_path, variation=9), "variation")


def test_unknown_profile(tmp_path: Path) -> None:
    _fails(tmp_path, _job(tmp_path), "unknown machine profile", "grbl-servo",
           extra=["--profile", "nope"])


def test_not_json(tmp_path: Path) -> None:
    job = tmp_path / "broken.json"
    job.write_text("{nope", encoding="utf-8")
    _fails(tmp_path, job, "not valid JSON", "line 1")


def test_fonts_lists_coverage() -> None:
    result = runner.invoke(app, ["fonts"])
    assert result.exit_code == 0
    for name in ("hershey-script", "allure", "tech"):
        assert name in result.output


def test_gcode_converts_an_svg(tmp_path: Path) -> None:
    svg = tmp_path / "drawing.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="100mm" height="50mm" '
                   'viewBox="0 0 100 50"><path d="M10,10 L20,20 L30,10"/></svg>')
    result = runner.invoke(app, ["gcode", str(svg), "--profile", "grbl-z"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "drawing.gcode").read_text()
    assert "G21" in text and "Z" in text


@pytest.mark.slow
def test_demo_runs_every_example_through_the_service(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    examples = [p.stem for p in example_jobs()]
    assert len(examples) >= 3
    for name in examples:
        assert f"{name}: queued" in result.output
        assert (tmp_path / name / "preview.pdf").read_bytes().startswith(b"%PDF")
        assert (tmp_path / name / "card.png").read_bytes().startswith(b"\x89PNG")
        assert "G21" in (tmp_path / name / "card.gcode").read_text()
    assert str(tmp_path.resolve()) in result.output
    again = runner.invoke(app, ["demo", "--out", str(tmp_path)])  # a second run reuses it
    assert again.exit_code == 0, again.output


def test_labels_and_coupons_for_rendered_job_directories(tmp_path: Path) -> None:
    from pypdf import PdfReader

    folders = []
    for job_file in example_jobs()[:2]:
        folder = tmp_path / job_file.stem
        assert runner.invoke(app, ["render", str(job_file), "--out", str(folder)]).exit_code == 0
        folders.append(str(folder))
    result = runner.invoke(app, ["labels", *folders, "--out", str(tmp_path / "labels.pdf"),
                                 "--start", "3", "--packing-list", str(tmp_path / "list.csv")])
    assert result.exit_code == 0, result.output
    text = PdfReader(str(tmp_path / "labels.pdf")).pages[0].extract_text()
    assert "1/2 · " in text and "2/2 · " in text
    assert (tmp_path / "list.csv").read_text().count("\n") == 3
    codes = [json.loads(Path(f, "job.json").read_text()).get("coupon", {}).get("code")
             for f in folders]
    assert any(codes)  # a coupon without a code got one from its seed, recorded in job.json
    result = runner.invoke(app, ["coupons", *folders, "--shop", "Blumenladen",
                                 "--out", str(tmp_path / "coupons.pdf")])
    assert result.exit_code == 0, result.output
    text = PdfReader(str(tmp_path / "coupons.pdf")).pages[0].extract_text()
    assert all(code in text for code in codes if code)
    result = runner.invoke(app, ["labels", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "nowhere" in result.output


def test_shops_create_prints_a_key_once_and_refuses_a_duplicate(tmp_path: Path) -> None:
    import re

    from jobs.settings import Settings
    from jobs.store import Store

    env = {"PENPOST_DATA_DIR": str(tmp_path / "data"), "PENPOST_DATABASE_URL": "",
           "PENPOST_CONFIG": ""}
    result = runner.invoke(app, ["shops", "create", "Blumenladen Rosa"], env=env)
    assert result.exit_code == 0, result.output
    keys = re.findall(r"pp_[A-Za-z0-9_-]{20,}", result.output)
    assert len(keys) == 1 and "shown once" in result.output
    store = Store(Settings(data_dir=tmp_path / "data"))
    shop = store.authenticate(keys[0])
    assert shop is not None and shop.name == "Blumenladen Rosa"
    again = runner.invoke(app, ["shops", "create", "Blumenladen Rosa"], env=env)
    assert again.exit_code == 2
    assert "exists already" in again.output and "pp_" not in again.output
    assert store.authenticate(keys[0]).id == shop.id  # the first key still works
    store.engine.dispose()


def test_a_shop_name_its_coupons_cannot_print_is_refused(tmp_path: Path) -> None:
    env = {"PENPOST_DATA_DIR": str(tmp_path / "data"), "PENPOST_DATABASE_URL": "",
           "PENPOST_CONFIG": ""}
    result = runner.invoke(app, ["shops", "create", "花屋 Şahin"], env=env)
    assert result.exit_code == 2
    assert "U+82B1" in result.output and "U+5C4B" in result.output and "pp_" not in result.output
    fine = runner.invoke(app, ["shops", "create", "Çiçekçi Şahin & Łukasz"], env=env)
    assert fine.exit_code == 0, fine.output
