"""The ``penpost`` command line: thin commands over the core (parse, call, answer)."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from jobs.render import (
    DEFAULT_PROFILE,
    render_companions,
    render_job,
    resolve_profile,
    write_outputs,
)
from jobs.schema import JobError, load_job

app = typer.Typer(help="penpost: handwritten apology cards, written by a pen plotter.",
                  no_args_is_help=True, add_completion=False)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

EXIT_BAD_INPUT = 2


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def render(job: Path = typer.Argument(..., help="job file (JSON)"),
           out: Path = typer.Option(..., "--out", "-o", help="output directory"),
           dpi: int = typer.Option(300, help="preview resolution, dots per inch"),
           profile: str = typer.Option(DEFAULT_PROFILE, "--profile", "-p",
                                       help="machine profile name or TOML file")) -> None:
    """Render a job file to OUT/card.svg, card.png, card.gcode, preview.pdf and job.json
    (with its seed); with delivery 'envelope' also envelope.svg and envelope.gcode."""
    try:
        rendered = render_job(load_job(job), dpi=dpi, profile=profile)
        files = {**rendered.files, **render_companions(rendered, profile=profile)}
    except JobError as error:
        _fail(f"{job}: {error}")
        return
    write_outputs(files, out)
    console.print(f"{out}/card.svg: {rendered.summary()}", highlight=False)


@app.command()
def fonts() -> None:
    """List the bundled handwriting fonts with their character coverage."""
    from fonts.catalog import font_info

    table = Table(title="bundled single-stroke fonts")
    for column in ("name", "style", "joined", "chars", "complete"):
        table.add_column(column)
    rows = font_info()
    for row in rows:
        table.add_row(row.name + (" *" if row.default else ""), row.style.split(" (")[0],
                      "yes" if row.joined else "no", str(row.glyphs),
                      "yes" if row.complete else "no")
    console.print(table)
    console.print("* default font; complete = writes every character a German or Western "
                  "European shop needs", highlight=False)
    for row in rows:
        console.print(f"{row.name}: {row.licence}; composed by penpost: {row.composed}",
                      highlight=False)


@app.command()
def formats() -> None:
    """List the card formats (sizes in mm)."""
    from cards.formats import card_formats

    table = Table(title="card formats")
    for column in ("name", "size (mm)", "writable area (mm)", "x-height range (mm)", "description"):
        table.add_column(column)
    for f in card_formats().values():
        table.add_row(f.name, f"{f.width_mm:g} x {f.height_mm:g}",
                      f"{f.area_width_mm:g} x {f.area_height_mm:g}",
                      f"{f.min_x_height_mm:g}–{f.max_x_height_mm:g}", f.description)
    console.print(table)


@app.command()
def gcode(drawing: Path = typer.Argument(..., help="single-line SVG (vpype, Inkscape, penpost)"),
          profile: str = typer.Option(DEFAULT_PROFILE, "--profile", "-p",
                                      help="machine profile name or TOML file"),
          out: Path | None = typer.Option(None, "--out", "-o",
                                           help="G-code file (default: beside the SVG)"),
          optimise: bool = typer.Option(True, help="merge, simplify and order the strokes")) -> None:
    """Convert a single-line SVG into G-code for a machine profile."""
    from plotter.gcode import BedLimitError, read_program, write_gcode
    from plotter.optimize import optimize
    from plotter.planner import plan
    from plotter.svgread import SvgError, read_svg

    try:
        machine = resolve_profile(profile)
        picture = read_svg(drawing)
        if optimise:
            picture = optimize(picture)
        text = write_gcode(picture, machine)
    except (JobError, SvgError, BedLimitError, OSError) as error:
        _fail(f"{drawing}: {error}")
        return
    target = out or drawing.with_suffix(".gcode")
    write_outputs({target.name: text.encode("ascii")}, target.parent)
    seconds = plan(read_program(text, machine), machine).total_s
    console.print(f"{target}: {len(text.splitlines())} lines, {len(text)} bytes, "
                  f"{picture.pen_lifts()} pen lifts, estimated plot time "
                  f"{seconds // 60:.0f}:{seconds % 60:02.0f} on {machine.name}", highlight=False)


@app.command()
def plot(target: Path = typer.Argument(..., help="G-code file or job output directory"),
         port: str | None = typer.Option(None, "--port", help="serial port or pyserial URL"),
         profile: str = typer.Option(DEFAULT_PROFILE, "--profile", "-p",
                                     help="machine profile name or TOML file"),
         simulate: bool = typer.Option(False, "--simulate", help="plot on a simulated GRBL"),
         time_scale: float = typer.Option(
             1.0, help="simulator: wall seconds per simulated second (0 = fastest)")) -> None:
    """Stream a card's G-code to a GRBL plotter (exit 0 plotted, 2 bad input, 3 interrupted,
    4 not connected: port not opened, no GRBL banner or Ctrl-C while connecting; no line
    of the card was sent)."""
    from jobs.plotcli import plot_command

    raise typer.Exit(plot_command(target, port, profile, simulate, time_scale=time_scale))


@app.command()
def simulate(profile: str = typer.Option(DEFAULT_PROFILE, "--profile", "-p",
                                         help="machine profile name or TOML file"),
             time_scale: float = typer.Option(
                 1.0, help="wall seconds per simulated second (0 = fastest)")) -> None:
    """Serve a simulated GRBL controller on a pseudo-terminal; prints its device path."""
    from jobs.plotcli import simulate_command

    raise typer.Exit(simulate_command(profile, time_scale=time_scale))


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="address to listen on"),
          port: int = typer.Option(8000, help="TCP port"),
          worker: bool = typer.Option(True, help="start a render worker beside the API"),
          concurrency: int = typer.Option(2, help="render processes of that worker")) -> None:
    """Run the HTTP API (settings from PENPOST_* variables or PENPOST_CONFIG)."""
    from jobs.servicecli import serve_command

    raise typer.Exit(serve_command(host, port, worker, concurrency))


@app.command()
def worker(concurrency: int = typer.Option(2, help="render processes"),
           queues: str = typer.Option("render,webhooks", help="queues to take tasks from")
           ) -> None:
    """Run a render worker (Celery) on the configured broker."""
    from jobs.servicecli import worker_command

    raise typer.Exit(worker_command(concurrency, queues))


@app.command()
def station(name: str = typer.Option(..., "--name", help="station name, e.g. S1"),
            port: str | None = typer.Option(None, "--port", help="serial port or pyserial URL"),
            profile: str = typer.Option(DEFAULT_PROFILE, "--profile", "-p",
                                        help="machine profile name or TOML file"),
            simulate: bool = typer.Option(False, "--simulate", help="plot on a simulated GRBL"),
            time_scale: float = typer.Option(1.0, help="simulator: wall s per simulated s"),
            pen: str | None = typer.Option(
                None, help="colour of the loaded pen (a new station: blue-black; left out "
                "on a restart: the pen the station had)"),
            ink_capacity_m: float | None = typer.Option(
                None, help="metres of line a pen writes (a new station: 500)"),
            terminal: bool = typer.Option(True, help="take operator keys from this terminal"),
            cards: int | None = typer.Option(None, help="stop after this many cards")) -> None:
    """Run a plotter station: take approved cards from the queue and plot them."""
    from jobs.station import StationConfig, station_command

    if not simulate and not port:
        _fail("give --port PORT or --simulate")
    config = StationConfig(name=name, profile=profile, port=port, simulate=simulate,
                           time_scale=time_scale, pen_colour=pen, ink_capacity_m=ink_capacity_m)
    raise typer.Exit(station_command(config, terminal=terminal, cards=cards))


def _rendered_cards(dirs: list[Path]) -> list:
    from jobs.schema import load_job

    cards = []
    for folder in dirs:
        spec = load_job(folder / "job.json" if folder.is_dir() else folder)
        cards.append((folder.name if folder.is_dir() else folder.stem, spec))
    return cards


@app.command()
def labels(dirs: list[Path] = typer.Argument(..., help="rendered job directories, in card order"),
           out: Path = typer.Option(Path("labels.pdf"), "--out", "-o", help="PDF to write"),
           sheet: str = typer.Option("zweckform-3475", help="label sheet format"),
           start: int = typer.Option(1, help="first free label cell on the sheet (1 = top left)"),
           packing_list: Path | None = typer.Option(None, help="also write a packing list CSV")
           ) -> None:
    """Print the recipients of rendered jobs on a label sheet, in card order."""
    from jobs.companions import labels_for
    from jobs.companions import packing_list as make_list

    try:
        cards = _rendered_cards(dirs)
        pdf = labels_for(cards, sheet=sheet, start=start)
    except JobError as error:
        _fail(str(error))
        return
    write_outputs({out.name: pdf}, out.parent)
    if packing_list is not None:
        write_outputs({packing_list.name: make_list(cards).encode("utf-8")}, packing_list.parent)
    console.print(f"{out}: {len(cards)} labels on {sheet} from cell {start}", highlight=False)


@app.command()
def coupons(dirs: list[Path] = typer.Argument(..., help="rendered job directories, in card order"),
            shop: str = typer.Option(..., "--shop", help="the shop's name, printed on each"),
            out: Path = typer.Option(Path("coupons.pdf"), "--out", "-o", help="PDF to write"),
            size: str = typer.Option("a7", help="insert size: a7, business-card, dl-third")
            ) -> None:
    """Print the coupon inserts of rendered jobs, in card order, with crop marks."""
    from jobs.companions import coupons_for

    try:
        pdf = coupons_for(_rendered_cards(dirs), shop_name=shop, size=size)
    except JobError as error:
        _fail(str(error))
        return
    write_outputs({out.name: pdf}, out.parent)
    console.print(f"{out}: coupon inserts ({size})", highlight=False)


@app.command()
def up(stations: int = typer.Option(4, help="how many plotter stations"),
       simulate: bool = typer.Option(False, "--simulate", help="simulated plotters"),
       serial: list[str] = typer.Option([], help="serial port of each station, in order"),
       port: int = typer.Option(8000, help="API port"),
       profile: str = typer.Option(DEFAULT_PROFILE, "--profile", "-p", help="machine profile"),
       time_scale: float = typer.Option(1.0, help="simulator: wall s per simulated s"),
       workers: int = typer.Option(2, help="render processes")) -> None:
    """Start a local cluster: the API, a render worker and N stations (Ctrl-C stops it)."""
    from jobs.upcli import up_command

    raise typer.Exit(up_command(stations, simulate, serial, port, profile, time_scale, workers))


def _add_groups() -> None:
    from jobs.servicecli import shops_app
    from jobs.webcli import users_app

    app.add_typer(shops_app, name="shops")
    app.add_typer(users_app, name="users")


_add_groups()


def example_jobs() -> list[Path]:
    """The bundled example job files, sorted by name."""
    folder = resources.files("jobs") / "examples"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".json"))


@app.command()
def demo(out: Path = typer.Option(Path("out/demo"), "--out", "-o",
                                  help="directory for the outputs")) -> None:
    """The whole way of a job: start the service, submit the bundled examples over HTTP,
    wait for the previews, approve, and download previews and G-code into OUT."""
    from jobs.democli import run_demo

    raise typer.Exit(run_demo(out, example_jobs()))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
