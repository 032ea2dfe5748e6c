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


# --- synth ---


@main.group("synth")
def synth_group() -> None:
    """The synthetic web2sky-synth benchmark and its tiny VLM (synth-clip)."""


@synth_group.command("train-vlm")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint path (default: the packaged web2sky_bench/synth/weights/synth-clip.pt).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the training images and the run.")
@click.option("--per-view", type=int, default=80, show_default=True, help="Training images per category and view.")
@click.option("--epochs", type=int, default=8, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True, help="torch threads for training.")
@quiet_option
def synth_train_vlm(out, seed, per_view, epochs, batch_size, lr, threads, quiet) -> None:
    """Train synth-clip contrastively on synthetic web + aerial images and captions (CPU)."""
    from web2sky_bench.synth.vlm import train_synth_clip

    summary = train_synth_clip(out=out, seed=seed, per_view=per_view, epochs=epochs, batch_size=batch_size,
                               lr=lr, threads=threads, quiet=quiet)
    click.echo(f"wrote {summary['path']} ({summary['bytes'] / 1e6:.1f} MB) in {summary['total_s']:.0f} s")
    click.echo(f"sha256 {summary['sha256']}")


@synth_group.command("preview")
@click.option("--out", type=click.Path(dir_okay=False), default="web2sky-synth-preview.png", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--per-view", type=int, default=3, show_default=True, help="Samples per category and view.")
@quiet_option
def synth_preview(out, seed, per_view, quiet) -> None:
    """Write a contact sheet: per category, web and aerial samples."""
    from web2sky_bench.synth.preview import make_preview

    click.echo(f"wrote {make_preview(out, seed=seed, per_view=per_view, quiet=quiet)}")
