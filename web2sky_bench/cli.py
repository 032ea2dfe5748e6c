"""The ``web2sky-bench`` command line: thin wrappers over importable functions.

Each verb parses its options, calls one library function and prints the result.
Heavy libraries (torch, fiftyone) are imported inside the verbs that need them
so that ``--help`` stays fast. Errors a user can cause (:class:`Web2SkyError`)
print one message and exit 2; anything else is a bug and exits 1 with a
traceback.
"""

from __future__ import annotations

import click

from web2sky_bench import __version__
from web2sky_bench.errors import Web2SkyError

root_option = click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="Datasets folder (default: $WEB2SKY_HOME/datasets).",
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")


class Web2SkyGroup(click.Group):
    """A click group that turns :class:`Web2SkyError` into a clean message and exit 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Web2SkyError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=Web2SkyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="web2sky-bench")
def main() -> None:
    """web2sky-bench: build, inspect and benchmark Web2Sky datasets.

    Fine-grained recognition of aircraft and ship types in aerial chips, helped
    by web photos of the same types. Data lives under $WEB2SKY_HOME
    (default ~/.cache/web2sky).
    """


@main.command("datasets")
@root_option
def datasets_cmd(root: str | None) -> None:
    """List known datasets and whether each is present locally."""
    from web2sky_bench.acquire.releases import is_present, load_registry
    from web2sky_bench.paths import datasets_root

    click.echo(f"datasets root: {datasets_root(root)}")
    for name, rel in sorted(load_registry().items()):
        mark = "present" if is_present(name, root) else "-"
        click.echo(f"  {name:<16} {rel.kind:<10} {mark:<8} {rel.title}")


@main.group("manifest")
def manifest_group() -> None:
    """Validate and summarise manifests."""


@manifest_group.command("validate")
@click.argument("path", type=click.Path())
@click.option("--taxonomy", "taxonomy_path", type=click.Path(dir_okay=False), default=None,
              help="Taxonomy CSV (default: the dataset's own, else the shipped one).")
def manifest_validate(path: str, taxonomy_path: str | None) -> None:
    """Check a manifest (Parquet or CSV, or a dataset folder) against the contract."""
    from web2sky_bench import taxonomy
    from web2sky_bench.manifest import read_manifest

    frame = read_manifest(path, taxonomy.load(taxonomy_path) if taxonomy_path else None)
    click.echo(f"ok: {path}: {len(frame)} rows, {frame['category'].nunique()} categories")


@manifest_group.command("stats")
@click.argument("path", type=click.Path())
def manifest_stats(path: str) -> None:
    """Counts by view x super_category x category x split."""
    from web2sky_bench.manifest import read_manifest, stats

    table = stats(read_manifest(path))
    click.echo(table.to_string())
    totals = table.sum()
    click.echo("total: " + ", ".join(f"{k}={int(v)}" for k, v in totals.items()))


# --- evaluate ---

leaderboard_option = click.option(
    "--leaderboard", "leaderboard_dir", type=click.Path(file_okay=False), default=None,
    help="Leaderboard folder (default: $WEB2SKY_LEADERBOARD or $WEB2SKY_HOME/leaderboard; "
         "the repository's committed one is ./leaderboard).",
)


def _leaderboard_dir(value: str | None):
    from web2sky_bench.evaluate.entries import default_leaderboard_dir

    return default_leaderboard_dir() if value is None else value


@main.group("leaderboard")
def leaderboard_group() -> None:
    """Render and check a leaderboard folder of entries."""


@leaderboard_group.command("render")
@leaderboard_option
def leaderboard_render(leaderboard_dir: str | None) -> None:
    """Write README.md, index.html and plots/ from every entry (validated first)."""
    from web2sky_bench.evaluate.render import render_leaderboard

    out = render_leaderboard(_leaderboard_dir(leaderboard_dir))
    click.echo(f"rendered {out['entries']} entries: {out['readme']}, {out['html']} ({len(out['plots'])} plots)")


@leaderboard_group.command("check")
@leaderboard_option
def leaderboard_check(leaderboard_dir: str | None) -> None:
    """Validate every entry against the schema and fail when the rendered pages are stale."""
    from web2sky_bench.evaluate.render import check_leaderboard

    n = check_leaderboard(_leaderboard_dir(leaderboard_dir))
    click.echo(f"ok: {n} entries valid, rendered leaderboard up to date")


@main.command("submit")
@click.argument("predictions", type=click.Path(dir_okay=False))
@click.option("--dataset", required=True, help="Dataset name (under --root) or folder whose test labels score it.")
@click.option("--track", required=True, type=click.Choice(["aircraft", "ship", "all"]), help="Track predicted.")
@click.option("--model-name", required=True, help="Name shown on the leaderboard.")
@click.option("--shots", default=None, help="Aerial shots per class the model trained with [default: all].")
@click.option("--seed", default=None, type=int, help="Seed of this run [default: 1].")
@click.option("--backbone", default=None, help="Backbone used (free text, shown on the leaderboard).")
@click.option("--description", default="", help="One line about the method.")
@click.option("--url", default=None, help="Paper or code link.")
@leaderboard_option
@root_option
def submit_cmd(predictions, dataset, track, model_name, shots, seed, backbone, description, url,
               leaderboard_dir, root) -> None:
    """Validate and score PREDICTIONS.csv; write it as an external leaderboard entry.

    PREDICTIONS.csv is UTF-8 with either columns image_id,category or image_id plus
    one probability column per class of the track, one row per aerial test image.
    Optional shots and seed columns hold several runs in one file (then omit
    --shots/--seed).
    """
    from web2sky_bench.evaluate.entries import write_entry
    from web2sky_bench.evaluate.submit import submit

    entry, csv = submit(predictions, dataset, track, model_name, shots=shots, seed=seed,
                        description=description, url=url, backbone=backbone, root=root)
    path = write_entry(_leaderboard_dir(leaderboard_dir), entry, csv)
    for k, res in entry["results"].items():
        for run in res["runs"]:
            click.echo(f"{entry['benchmark']['name']} track {track} k={k} seed {run['seed']}: "
                       f"top-1 {100 * run['top1']:.1f}% (95% CI {100 * run['top1_ci95'][0]:.1f}-"
                       f"{100 * run['top1_ci95'][1]:.1f}), mean per-class {100 * run['mean_per_class_acc']:.1f}%, "
                       f"macro-F1 {100 * run['macro_f1']:.1f}%")
    click.echo(f"wrote {path}")


def _csv_list(value: str, what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise Web2SkyError(f"--{what} needs a comma-separated list, got {value!r}")
    return items


@main.command("evaluate")
@click.option("--model", "model_name", required=True, help="Registered model (see `web2sky-bench models`).")
@click.option("--dataset", default="web2sky-synth-mini", show_default=True,
              help="Dataset name under --root, or a dataset folder (web2sky-synth-* is generated on first use).")
@click.option("--track", default="all", show_default=True, type=click.Choice(["aircraft", "ship", "all"]))
@click.option("--shots", default="1,2,4,8,16,all", show_default=True, help="Aerial shots per class, comma-separated.")
@click.option("--seeds", default="1,2,3", show_default=True, help="Seeds, comma-separated.")
@click.option("--backbone", default=None, help="open_clip model name (default: synth-clip on synthetic data, else ViT-B-16).")
@click.option("--pretrained", default=None, help="Pretrained tag or checkpoint path for the backbone.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="JSON file of model options (overrides the model's defaults).")
@click.option("--out", "leaderboard_dir", type=click.Path(file_okay=False), default=None,
              help="Leaderboard folder for the entry (default: $WEB2SKY_LEADERBOARD or $WEB2SKY_HOME/leaderboard).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:i].")
@root_option
@quiet_option
def evaluate_cmd(model_name, dataset, track, shots, seeds, backbone, pretrained, config_file, leaderboard_dir,
                 device, root, quiet) -> None:
    """Run MODEL under protocol web2sky-v1 and write a leaderboard entry."""
    import json
    from pathlib import Path

    from web2sky_bench.evaluate.entries import write_entry
    from web2sky_bench.evaluate.protocol import run_protocol
    from web2sky_bench.evaluate.render import results_table

    config = None
    if config_file:
        try:
            config = json.loads(Path(config_file).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Web2SkyError(f"--config {config_file} is not a JSON object: {exc}") from None
        if not isinstance(config, dict):
            raise Web2SkyError(f"--config {config_file} must hold a JSON object of model options")
    try:
        seed_list = [int(s) for s in _csv_list(seeds, "seeds")]
    except ValueError:
        raise Web2SkyError(f"--seeds must be integers, got {seeds!r}") from None

    def progress(k: str, seed: int, run: dict) -> None:
        if not quiet:
            click.echo(f"  k={k:<3} seed={seed}: top-1 {100 * run['top1']:5.1f}%  ({run['runtime_s']:.1f} s)", err=True)

    entry, csv = run_protocol(model_name, dataset, track=track, shots=_csv_list(shots, "shots"), seeds=seed_list,
                              backbone=backbone, pretrained=pretrained, config=config, device=device, root=root,
                              quiet=quiet, on_run=progress)
    path = write_entry(_leaderboard_dir(leaderboard_dir), entry, csv)
    click.echo(results_table(entry))
    click.echo(f"entry: {path}")
