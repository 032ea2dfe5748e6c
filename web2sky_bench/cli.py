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


# --- curate ---
def _parse_thresholds(values: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise Web2SkyError(f"--threshold expects NAME=NUMBER, got {item!r}")
    return out


@main.command("clean")
@click.argument("dataset")
@root_option
@click.option("--drop", is_flag=True, help="Remove flagged rows from the manifest.")
@click.option("--drop-issues", default=None,
              help="Comma-separated issues that --drop removes (default: every check marked drop).")
@click.option("--delete-files", is_flag=True, help="With --drop: also delete the dropped rows' files.")
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
              help="Override a check's threshold, e.g. --threshold blurry=25 (repeatable).")
@click.option("--report", type=click.Path(dir_okay=False), default=None,
              help="Report JSON (default: DATASET/reports/clean.json).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: up to 2).")
@quiet_option
def clean_cmd(dataset, root, drop, drop_issues, delete_files, thresholds, report, workers, quiet) -> None:
    """Check every image (corrupt, not an image, bomb, small, dark, blurry, ...) into `issues`."""
    from web2sky_bench.curate.clean import clean_dataset

    result = clean_dataset(
        dataset, root=root, thresholds=_parse_thresholds(thresholds), drop=drop,
        drop_issues=[s for s in drop_issues.split(",") if s] if drop_issues is not None else None,
        delete_files=delete_files, report=report, workers=workers, quiet=quiet,
    )
    flagged = sum(bool(f.issues) for f in result.findings.values())
    click.echo(f"checked {len(result.findings)} images: {flagged} flagged")
    counts: dict[str, int] = {}
    for finding in result.findings.values():
        for issue in finding.issues:
            counts[issue] = counts.get(issue, 0) + 1
    for issue, n in sorted(counts.items()):
        click.echo(f"  {issue:<20} {n}")
    if drop:
        click.echo(f"dropped {len(result.dropped)} rows, deleted {len(result.deleted_files)} files")
    click.echo(f"report: {result.report}")


@main.command("dedup")
@click.argument("dataset")
@root_option
@click.option("--radius", type=click.IntRange(0, 64), default=8, show_default=True,
              help="Largest Hamming distance between near-duplicate hashes.")
@click.option("--flip", is_flag=True, help="Also match mirrored copies (hash of the mirrored image).")
@click.option("--crops", is_flag=True, help="Also match copies cropped by up to 10% (nine crop hashes per image).")
@click.option("--exact", is_flag=True,
              help="Decode every pixel: hash values identical to imagehash (default: faster JPEG draft decode).")
@click.option("--hash", "hash_kind", type=click.Choice(["phash", "dhash"]), default="phash", show_default=True)
@click.option("--method", type=click.Choice(["auto", "brute", "mih"]), default="auto", show_default=True,
              help="Radius search: brute force, multi-index hashing, or the cheaper by a cost model.")
@click.option("--report", type=click.Path(dir_okay=False), default=None,
              help="Report JSON (default: DATASET/reports/dedup.json).")
@click.option("--workers", type=int, default=None, help="Worker processes for hashing (default: up to 2).")
@quiet_option
def dedup_cmd(dataset, root, radius, flip, crops, exact, hash_kind, method, report, workers, quiet) -> None:
    """Find exact and near-duplicate images; write `phash`, `dup_group` and a pairs report."""
    from web2sky_bench.curate.dedup import dedup_dataset

    result = dedup_dataset(dataset, root=root, radius=radius, flip=flip, crops=crops, exact=exact, hash_kind=hash_kind,
                           method=method, report=report, workers=workers, quiet=quiet)
    kinds = {k: int((result.pairs.kind == k).sum()) for k in ("exact", "near", "crop", "flip")}
    n_groups = result.frame["dup_group"].nunique()
    grouped = int(result.frame["dup_group"].notna().sum())
    click.echo(f"{len(result.frame)} images: {n_groups} duplicate groups covering {grouped} images")
    click.echo("pairs: " + ", ".join(f"{k}={v}" for k, v in kinds.items()))
    if result.failed:
        click.echo(f"{len(result.failed)} images could not be hashed (run `web2sky-bench clean`)")
    click.echo(f"report: {result.report}")


@main.command("split")
@click.argument("dataset")
@root_option
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same splits.")
@click.option("--val", "val_fraction", type=float, default=0.15, show_default=True)
@click.option("--test", "test_fraction", type=float, default=0.35, show_default=True)
@click.option("--min-per-split", type=int, default=1, show_default=True,
              help="Images each class gets in train, val and test when it has enough.")
@click.option("--views", default="aerial", show_default=True,
              help="Comma-separated views to split; rows of other views (and their duplicate groups) go to train.")
@click.option("--ks", default="1,2,4,8,16", show_default=True, help="Few-shot sizes stored in fewshot.json.")
@click.option("--fewshot-seeds", default="1,2,3", show_default=True)
@click.option("--dedup", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Find duplicate groups first (auto: when some row has no perceptual hash).")
@quiet_option
def split_cmd(dataset, root, seed, val_fraction, test_fraction, min_per_split, views, ks, fewshot_seeds,
              dedup, quiet) -> None:
    """Group-aware stratified train/val/test split and stored few-shot subsets."""
    from web2sky_bench.curate.split import SplitConfig, split_dataset

    def ints(text: str) -> tuple[int, ...]:
        try:
            return tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise Web2SkyError(f"expected comma-separated integers, got {text!r}") from None

    config = SplitConfig(val_fraction, test_fraction, min_per_split, tuple(v for v in views.split(",") if v))
    result = split_dataset(dataset, root=root, seed=seed, config=config, ks=ints(ks),
                           fewshot_seeds=ints(fewshot_seeds), dedup=dedup, quiet=quiet)
    if result.deduplicated:
        click.echo("ran dedup first (some rows had no perceptual hash)")
    click.echo(result.counts.to_string())
    click.echo("total: " + ", ".join(f"{k}={int(v)}" for k, v in result.frame["split"].value_counts().items()))
    click.echo(f"few-shot subsets: {result.fewshot}")


@main.command("check")
@click.argument("dataset")
@root_option
@click.option("--radius", type=click.IntRange(0, 64), default=8, show_default=True,
              help="Hamming radius for near-duplicate leakage.")
@click.option("--flip", is_flag=True, help="Also count mirrored copies as leakage.")
@click.option("--min-per-split", type=int, default=1, show_default=True)
@click.option("--views", default="aerial", show_default=True, help="Views whose class counts are checked.")
@click.option("--no-sha256", is_flag=True, help="Skip re-hashing file contents.")
@click.option("--report", type=click.Path(dir_okay=False), default=None,
              help="Report JSON (default: DATASET/reports/check.json).")
@quiet_option
@click.pass_context
def check_cmd(ctx, dataset, root, radius, flip, min_per_split, views, no_sha256, report, quiet) -> None:
    """Health report; exits 1 on leakage, low class counts, manifest errors, missing or changed files."""
    from web2sky_bench.curate.check import check_dataset

    result = check_dataset(dataset, root=root, radius=radius, flip=flip, min_per_split=min_per_split,
                           views=tuple(v for v in views.split(",") if v), verify_sha256=not no_sha256,
                           report=report, quiet=quiet)
    for problem in result.problems:
        click.echo(f"FAIL {problem.kind}: {problem.message}")
        for example in problem.examples[:5]:
            click.echo(f"     {example}")
    for warning in result.warnings:
        click.echo(f"warn {warning.kind}: {warning.message}")
    click.echo(f"{'ok' if result.ok else 'FAILED'}: {result.dataset} ({result.summary.get('images', '?')} images)")
    if not result.ok:
        ctx.exit(1)
