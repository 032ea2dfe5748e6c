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


def executor_options(func):
    """``--executor local|ray`` and ``--ray-address`` for verbs with per-image stages (see docs/ray.md)."""
    func = click.option("--ray-address", default=None, metavar="auto|ray://HOST:PORT",
                        help="With --executor ray: the cluster (default: start a local Ray).")(func)
    return click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                        help="Where per-image work runs: this machine, or a Ray cluster.")(func)


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


# --- download ---


@main.command("download")
@click.argument("name")
@root_option
@click.option("--archive", type=click.Path(dir_okay=False), default=None,
              help="A release archive fetched by hand (manual datasets).")
@click.option("--mirror", default=None, help="Base URL (or full file URL) tried before the registry's URLs.")
@click.option("--force", is_flag=True, help="Download, extract and import again even if present.")
@click.option("--verify-only", is_flag=True, help="Only verify what is on disk against the checksums.")
@click.option("--size", type=click.Choice(["mini", "standard"]), default="mini", show_default=True,
              help="web2sky-synth only: which size to generate.")
@click.option("--seed", type=int, default=0, show_default=True, help="web2sky-synth only: generator seed.")
@click.option("--view", type=click.Choice(["web", "aerial"]), default=None,
              help="Image-folder releases without a view level: the view of every image.")
@click.option("--class-map", type=click.Path(dir_okay=False, exists=True), default=None,
              help="CSV 'folder,category' or JSON mapping class folder names to taxonomy categories.")
@quiet_option
def download_cmd(name, root, archive, mirror, force, verify_only, size, seed, view, class_map, quiet) -> None:
    """Download, verify and import dataset NAME (see `web2sky-bench datasets`)."""
    from web2sky_bench.acquire.download import download_dataset

    summary = download_dataset(name, root=root, archive=archive, mirror=mirror, force=force,
                               verify_only=verify_only, size=size, seed=seed, view=view,
                               class_map=class_map, quiet=quiet)
    click.echo(summary.format())


@main.command("fetch-web")
@click.argument("manifest", type=click.Path(exists=True))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Dataset folder to write (images, manifest.parquet, fetch_stats.json).")
@click.option("--workers", type=int, default=16, show_default=True, help="Download threads.")
@click.option("--per-host", type=int, default=8, show_default=True, help="Concurrent requests per host.")
@click.option("--min-interval", type=float, default=0.0, show_default=True,
              help="Seconds between request starts to one host.")
@click.option("--max-bytes", type=int, default=20 * 1024**2, show_default=True, help="Largest body accepted.")
@click.option("--retries", type=int, default=3, show_default=True)
@executor_options
@quiet_option
def fetch_web_cmd(manifest, out_dir, workers, per_host, min_interval, max_bytes, retries, executor, ray_address,
                  quiet) -> None:
    """Download the web images MANIFEST lists by URL (CSV/Parquet: image_id, url, category, ...)."""
    from web2sky_bench.acquire.fetch_web import STATS_FILE, fetch_web
    from web2sky_bench.executors import get_executor

    stats = fetch_web(manifest, out_dir, workers=workers, per_host=per_host, min_interval=min_interval,
                      max_bytes=max_bytes, retries=retries, quiet=quiet,
                      executor=get_executor(executor, ray_address, threads=True))
    click.echo(stats.format())
    click.echo(f"stats: {out_dir}/{STATS_FILE}")
# --- importers and crawl ---


@main.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(
    ["mar20", "hrsc2016", "shiprsimagenet", "shiprsimagenet-coco", "dota", "fair1m", "fgsc23"],
    case_sensitive=False))
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Dataset folder to write (default: <root>/<FORMAT>).")
@root_option
@click.option("--padding", type=float, default=0.1, show_default=True,
              help="Context added on each side, as a fraction of the box size.")
@click.option("--rotate/--no-rotate", default=False, show_default=True,
              help="Level oriented boxes (long side horizontal) before cropping.")
@click.option("--min-size", type=int, default=8, show_default=True,
              help="Skip objects whose shorter side is below this many pixels.")
@click.option("--val-fraction", type=float, default=0.1, show_default=True,
              help="Share of train source images moved to val when the dataset has no val list.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the val carve-out.")
@click.option("--force", is_flag=True, help="Replace an existing import in the output folder.")
@quiet_option
def import_cmd(fmt: str, src: str, out: str | None, root: str | None, padding: float, rotate: bool,
               min_size: int, val_fraction: float, seed: int, force: bool, quiet: bool) -> None:
    """Cut a public aerial dataset at SRC into labelled chips with a manifest."""
    from web2sky_bench.acquire.importers.base import ChipOptions
    from web2sky_bench.acquire.importers.registry import import_dataset
    from web2sky_bench.paths import dataset_dir

    target = out or dataset_dir(fmt.lower(), root)
    options = ChipOptions(padding=padding, rotate=rotate, min_size=min_size, val_fraction=val_fraction, seed=seed)
    card = import_dataset(fmt, src, target, options, quiet=quiet, force=force)
    counts = card["counts"]
    click.echo(f"imported {counts['images']} chips in {counts['categories']} categories into {target}")
    click.echo("by split: " + ", ".join(f"{k}={v}" for k, v in counts["by_split"].items()))
    if card["skipped"]:
        click.echo("skipped: " + ", ".join(f"{k}={v}" for k, v in card["skipped"].items()))


@main.command("crawl")
@click.argument("source", type=click.Choice(["wikimedia", "urllist", "html"]))
@click.option("--category", "categories", multiple=True, help="Category id, name or alias (repeatable).")
@click.option("--all", "all_categories", is_flag=True, help="Crawl every taxonomy category.")
@click.option("--limit", type=int, default=100, show_default=True, help="Images to keep per category.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Dataset folder (default: <root>/web-<SOURCE>); a rerun resumes it.")
@root_option
@click.option("--list", "list_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="urllist: image URLs; html: page URLs (.txt 'URL [CATEGORY]', .csv or .parquet).")
@click.option("--api-url", default="https://commons.wikimedia.org/w/api.php", show_default=True,
              help="MediaWiki API endpoint (wikimedia).")
@click.option("--interval", type=float, default=1.0, show_default=True,
              help="Minimum seconds between requests to one host (robots.txt Crawl-delay wins if longer).")
@click.option("--contact", default=None, help="Contact (email or URL) put in the User-Agent.")
@click.option("--min-side", type=int, default=32, show_default=True, help="Skip images smaller than this.")
@quiet_option
def crawl_cmd(source: str, categories: tuple[str, ...], all_categories: bool, limit: int, out: str | None,
              root: str | None, list_path: str | None, api_url: str, interval: float, contact: str | None,
              min_side: int, quiet: bool) -> None:
    """Crawl web photos of taxonomy categories with their license and attribution."""
    from web2sky_bench.acquire.crawl.run import run_crawl
    from web2sky_bench.paths import dataset_dir

    target = out or dataset_dir(f"web-{source}", root)
    card = run_crawl(source, target, list(categories), all_categories, limit, api_url, list_path, interval,
                     contact, min_side, quiet)
    info = card["crawl"]
    click.echo(f"kept {info['kept']} images in {card['counts']['categories']} categories into {target}")
    if info["no_license"]:
        click.echo(f"flagged no_license: {info['no_license']} row(s)")
    if info["skipped"]:
        click.echo("skipped: " + ", ".join(f"{k}={v}" for k, v in info["skipped"].items()))
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
@executor_options
@quiet_option
def clean_cmd(dataset, root, drop, drop_issues, delete_files, thresholds, report, workers, executor, ray_address,
              quiet) -> None:
    """Check every image (corrupt, not an image, bomb, small, dark, blurry, ...) into `issues`."""
    from web2sky_bench.curate.clean import clean_dataset
    from web2sky_bench.executors import get_executor

    result = clean_dataset(
        dataset, root=root, thresholds=_parse_thresholds(thresholds), drop=drop,
        drop_issues=[s for s in drop_issues.split(",") if s] if drop_issues is not None else None,
        delete_files=delete_files, report=report, workers=workers, quiet=quiet,
        executor=get_executor(executor, ray_address, workers),
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
@click.option("--verify", is_flag=True,
              help="Keep a near pair only if its dHash agrees too (fewer false pairs on simple images).")
@click.option("--exact", is_flag=True,
              help="Decode every pixel: hash values identical to imagehash (default: faster JPEG draft decode).")
@click.option("--hash", "hash_kind", type=click.Choice(["phash", "dhash"]), default="phash", show_default=True)
@click.option("--method", type=click.Choice(["auto", "brute", "mih"]), default="auto", show_default=True,
              help="Radius search: brute force, multi-index hashing, or the cheaper by a cost model.")
@click.option("--report", type=click.Path(dir_okay=False), default=None,
              help="Report JSON (default: DATASET/reports/dedup.json).")
@click.option("--workers", type=int, default=None, help="Worker processes for hashing (default: up to 2).")
@executor_options
@quiet_option
def dedup_cmd(dataset, root, radius, flip, crops, verify, exact, hash_kind, method, report, workers, executor,
              ray_address, quiet) -> None:
    """Find exact and near-duplicate images; write `phash`, `dup_group` and a pairs report."""
    from web2sky_bench.curate.dedup import dedup_dataset
    from web2sky_bench.executors import get_executor

    result = dedup_dataset(dataset, root=root, radius=radius, flip=flip, crops=crops, verify=verify, exact=exact,
                           hash_kind=hash_kind, method=method, report=report, workers=workers, quiet=quiet,
                           executor=get_executor(executor, ray_address, workers))
    kinds = {k: int((result.pairs.kind == k).sum()) for k in ("exact", "near", "crop", "flip")}
    n_groups = result.frame["dup_group"].nunique()
    grouped = int(result.frame["dup_group"].notna().sum())
    click.echo(f"{len(result.frame)} images: {n_groups} duplicate groups covering {grouped} images")
    click.echo("pairs: " + ", ".join(f"{k}={v}" for k, v in kinds.items()))
    if result.failed:
        click.echo(f"{len(result.failed)} images could not be hashed (run `web2sky-bench clean`)")
    click.echo(f"report: {result.report}")
# --- features and concepts ---


def backbone_options(func):
    """``--backbone/--pretrained/--device`` options shared by verbs that encode images or text."""
    func = click.option("--device", default="auto", show_default=True,
                        help="auto (CUDA when available), cpu or cuda[:i].")(func)
    func = click.option("--pretrained", default=None,
                        help="Pretrained tag (openai, laion2b_s34b_b88k, ...), checkpoint path, or 'random'.")(func)
    func = click.option("--backbone", default=None,
                        help="open_clip model name (default: synth-clip on web2sky-synth, else ViT-B-16).")(func)
    return func


def _dataset_folder(dataset: str | None, root: str | None):
    """A dataset argument: an existing folder, else a dataset name under the datasets root."""
    from pathlib import Path

    from web2sky_bench.paths import dataset_dir

    if dataset is None:
        return None
    path = Path(dataset).expanduser()
    folder = path if path.is_dir() else dataset_dir(dataset, root)
    if not folder.is_dir():
        raise Web2SkyError(f"dataset {dataset!r} not found (looked for {folder}); run `web2sky-bench datasets`")
    return folder


@main.command("features")
@click.argument("dataset")
@backbone_options
@click.option("--batch-size", default=64, show_default=True, help="Images per encoder batch.")
@click.option("--workers", default=2, show_default=True, help="Image loading worker processes.")
@root_option
@executor_options
@quiet_option
def features_cmd(dataset, backbone, pretrained, device, batch_size, workers, root, executor, ray_address,
                 quiet) -> None:
    """Encode every image of DATASET once into the feature cache."""
    import time

    from web2sky_bench.executors import get_executor
    from web2sky_bench.manifest import read_manifest
    from web2sky_bench.models.backbones import load_backbone
    from web2sky_bench.models.features import FeatureCache, image_features

    folder = _dataset_folder(dataset, root)
    frame = read_manifest(folder)
    bb = load_backbone(backbone, pretrained, device, dataset_dir=folder)
    cached = len(FeatureCache(bb.key).load(set(frame["sha256"])))
    start = time.perf_counter()
    feats = image_features(bb, folder, frame, batch_size=batch_size, workers=workers, quiet=quiet,
                           executor=get_executor(executor, ray_address))
    took = time.perf_counter() - start
    click.echo(f"{bb.name} ({bb.pretrained}) on {bb.device}: {feats.shape[0]} images x {feats.shape[1]} dims, "
               f"{frame['sha256'].nunique() - cached} encoded, {cached} from cache, {took:.1f} s")


@main.group("concepts")
def concepts_group() -> None:
    """Concept pools per category: show them, or generate new ones with an LLM."""


@concepts_group.command("show")
@click.argument("category")
@click.option("--dataset", default=None, help="Dataset name or folder (uses its concepts.json and taxonomy).")
@click.option("--file", "path", type=click.Path(dir_okay=False), default=None,
              help="A concept JSON file that overrides the other sources.")
@root_option
def concepts_show(category: str, dataset: str | None, path: str | None, root: str | None) -> None:
    """Print the concept pool of CATEGORY (an id, display name or alias)."""
    from web2sky_bench import taxonomy
    from web2sky_bench.models.concepts import load_concepts

    folder = _dataset_folder(dataset, root)
    cat = taxonomy.for_dataset(folder).get(taxonomy.for_dataset(folder).resolve(category))
    concepts = load_concepts([cat.id], dataset_dir=folder, path=path)[cat.id]
    click.echo(f"{cat.id} ({cat.display_name}, {cat.super_category}): {len(concepts)} concepts")
    for i, concept in enumerate(concepts, 1):
        click.echo(f"  {i:>2}. {concept}")


@concepts_group.command("generate")
@click.option("--llm-url", required=True, help="OpenAI-compatible API base, e.g. http://localhost:8000/v1.")
@click.option("--llm-model", required=True, help="Model name the endpoint serves.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="JSON file to write.")
@click.option("--categories", multiple=True,
              help="Category ids or aliases (repeat or comma-separate; default: every taxonomy category).")
@click.option("--n", "n", default=12, show_default=True, help="Concepts to ask for per category.")
@click.option("--dataset", default=None, help="Dataset name or folder whose taxonomy to use.")
@click.option("--no-embedding-filter", is_flag=True,
              help="Skip the text-embedding filters (class-name and near-duplicate cosine).")
@backbone_options
@root_option
@quiet_option
def concepts_generate(llm_url, llm_model, out, categories, n, dataset, no_embedding_filter,
                      backbone, pretrained, device, root, quiet) -> None:
    """Ask an LLM for concepts (fixed prompt, cached answers) and filter them as Label-free CBM does.

    The API key is read from WEB2SKY_LLM_API_KEY (or OPENAI_API_KEY).
    """
    from web2sky_bench import taxonomy
    from web2sky_bench.io.atomic import write_json
    from web2sky_bench.models.concepts import ChatClient, generate_concepts

    folder = _dataset_folder(dataset, root)
    tax = taxonomy.for_dataset(folder)
    wanted = [c.strip() for item in categories for c in item.split(",") if c.strip()] or tax.ids
    encode_text = None
    if not no_embedding_filter:
        from web2sky_bench.models.backbones import load_backbone

        try:
            encode_text = load_backbone(backbone, pretrained, device, dataset_dir=folder).encode_text
        except Web2SkyError as exc:
            raise Web2SkyError(f"{exc}; or pass --no-embedding-filter") from exc
    client = ChatClient(llm_url, llm_model)
    kept, removed = generate_concepts(wanted, client, tax, encode_text, n=n, quiet=quiet)
    write_json(out, kept)
    for item in removed:
        click.echo(f"  dropped [{item.category}] {item.concept!r}: {item.reason}")
    total = sum(len(v) for v in kept.values())
    click.echo(f"wrote {out}: {total} concepts for {len(kept)} categories "
               f"({len(removed)} dropped, {client.requests_made} requests)")
# --- models ---


@main.command("models")
def models_cmd() -> None:
    """List every registered model with a one-line description."""
    from web2sky_bench.models.registry import list_models

    rows = list_models()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        click.echo(f"{name:<{width}}  {description}")
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
@click.option("--model", "model_name", required=True,
              help="Registered model (see `web2sky-bench models`); several comma-separated, or 'all'.")
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
@click.option("--threads", default=1, show_default=True, type=click.IntRange(0),
              help="torch CPU threads while models train (small heads on cached features); 0 = torch default.")
@click.option("--jobs", default=0, show_default=True, type=click.IntRange(0),
              help="(k, seed) runs in parallel processes on CPU; 0 = one per CPU core (at most 8).")
@click.option("--no-cache", is_flag=True, help="Rerun every (k, seed) even when an identical run is cached.")
@root_option
@quiet_option
def evaluate_cmd(model_name, dataset, track, shots, seeds, backbone, pretrained, config_file, leaderboard_dir,
                 device, threads, jobs, no_cache, root, quiet) -> None:
    """Run MODEL under protocol web2sky-v1 and write a leaderboard entry (one per model)."""
    import json
    import os
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
            note = ", cached" if run.get("cached") else ""
            click.echo(f"  k={k:<3} seed={seed}: top-1 {100 * run['top1']:5.1f}%  ({run['runtime_s']:.1f} s{note})",
                       err=True)

    if model_name.strip() == "all":
        from web2sky_bench.models.registry import MODELS

        names = list(MODELS)
    else:
        names = _csv_list(model_name, "model")
        from web2sky_bench.models.registry import get_model

        for name in names:  # fail on a typo before any run
            get_model(name)
    for name in names:
        entry, csv = run_protocol(name, dataset, track=track, shots=_csv_list(shots, "shots"), seeds=seed_list,
                                  backbone=backbone, pretrained=pretrained, config=config, device=device, root=root,
                                  quiet=quiet, on_run=progress, threads=threads or None,
                                  jobs=jobs or min(os.cpu_count() or 1, 8), cache=not no_cache)
        path = write_entry(_leaderboard_dir(leaderboard_dir), entry, csv)
        click.echo(results_table(entry))
        click.echo(f"entry: {path}")
# --- synth ---


@main.group("synth")
def synth_group() -> None:
    """The synthetic web2sky-synth benchmark and its tiny VLM (synth-clip)."""


@synth_group.command("train-vlm")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint path (default: the packaged web2sky_bench/synth/weights/synth-clip.pt).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the training images and the run.")
@click.option("--web", type=int, default=120, show_default=True, help="Web training images per category.")
@click.option("--aerial", type=int, default=40, show_default=True, help="Aerial training images per category.")
@click.option("--epochs", type=int, default=14, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True)
@click.option("--threads", type=int, default=1, show_default=True, help="torch threads for training.")
@quiet_option
def synth_train_vlm(out, seed, web, aerial, epochs, batch_size, lr, threads, quiet) -> None:
    """Train synth-clip contrastively on synthetic web + aerial images and captions (CPU)."""
    from web2sky_bench.synth.vlm import train_synth_clip

    summary = train_synth_clip(out=out, seed=seed, web=web, aerial=aerial, epochs=epochs, batch_size=batch_size,
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
@click.option("--crops", is_flag=True, help="Also count copies cropped by up to 10% as leakage.")
@click.option("--verify", is_flag=True, help="Count a near pair only if its dHash agrees too.")
@click.option("--min-per-split", type=int, default=1, show_default=True)
@click.option("--views", default="aerial", show_default=True, help="Views whose class counts are checked.")
@click.option("--no-sha256", is_flag=True, help="Skip re-hashing file contents.")
@click.option("--report", type=click.Path(dir_okay=False), default=None,
              help="Report JSON (default: DATASET/reports/check.json).")
@quiet_option
@click.pass_context
def check_cmd(ctx, dataset, root, radius, flip, crops, verify, min_per_split, views, no_sha256, report,
              quiet) -> None:
    """Health report; exits 1 on leakage, low class counts, manifest errors, missing or changed files."""
    from web2sky_bench.curate.check import check_dataset

    result = check_dataset(dataset, root=root, radius=radius, flip=flip, crops=crops, verify=verify,
                           min_per_split=min_per_split, views=tuple(v for v in views.split(",") if v),
                           verify_sha256=not no_sha256, report=report, quiet=quiet)
    for problem in result.problems:
        click.echo(f"FAIL {problem.kind}: {problem.message}")
        for example in problem.examples[:5]:
            click.echo(f"     {example}")
    for warning in result.warnings:
        click.echo(f"warn {warning.kind}: {warning.message}")
    click.echo(f"{'ok' if result.ok else 'FAILED'}: {result.dataset} ({result.summary.get('images', '?')} images)")
    if not result.ok:
        ctx.exit(1)


# --- browse ---


@main.command("browse")
@click.argument("dataset")
@root_option
@click.option("--name", default=None, help="FiftyOne dataset name (default: the dataset's name).")
@click.option("--predictions", "predictions", multiple=True, type=click.Path(dir_okay=False),
              help="Predictions CSV or leaderboard entry JSON to attach (repeatable).")
@click.option("--port", default=5151, show_default=True, type=int, help="App port.")
@click.option("--address", default="127.0.0.1", show_default=True, help="App address.")
@click.option("--no-launch", is_flag=True, help="Build or refresh only; open later with `fiftyone app launch NAME`.")
@click.option("--stats", "show_stats", is_flag=True,
              help="Print the FiftyOne dataset's counts as `manifest stats` does (other output goes to stderr).")
@click.option("--embeddings", is_flag=True,
              help="Add a 2-D map of the backbone's (cached) image features for the App's Embeddings panel.")
@backbone_options
@quiet_option
def browse_cmd(dataset: str, root: str | None, name: str | None, predictions: tuple[str, ...],
               port: int, address: str, no_launch: bool, show_stats: bool, embeddings: bool, backbone: str | None,
               pretrained: str | None, device: str, quiet: bool) -> None:
    """Build or refresh the FiftyOne dataset of DATASET (a folder or a name) and open the App."""
    import os
    import signal
    import sys

    # FiftyOne warns that its bundled MongoDB 6 is the oldest supported one; it works.
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    from web2sky_bench.browse import build_dataset, launch, resolve_dataset, stats_table

    def info(text: str) -> None:
        click.echo(text, err=show_stats)

    folder = resolve_dataset(dataset, root)
    result = build_dataset(folder, name=name, predictions=list(predictions), quiet=quiet)
    if embeddings:
        from web2sky_bench.browse import add_backbone_visualization
        from web2sky_bench.models.backbones import load_backbone

        bb = load_backbone(backbone, pretrained, device, dataset_dir=folder)
        key = add_backbone_visualization(result.dataset, folder, bb, quiet=quiet)
        info(f"embeddings: brain key {key!r} from {bb.name} ({bb.pretrained}); open the Embeddings panel")
    info(
        f"dataset: {result.name} ({len(result.dataset)} samples; added {result.added}, "
        f"updated {result.updated}, removed {result.removed}, unchanged {result.unchanged})"
    )
    info("saved views: " + ", ".join(result.views))
    if show_stats:
        table = stats_table(result.dataset)
        click.echo(table.to_string())
        click.echo("total: " + ", ".join(f"{k}={int(v)}" for k, v in table.sum().items()))
    if no_launch:
        info(f"open it with: fiftyone app launch {result.name}")
        return
    # SIGTERM exits like Ctrl-C so FiftyOne stops its App service on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    info(f"App: http://{address}:{port}/datasets/{result.name} (Ctrl-C to stop)")
    launch(result.name, port=port, address=address, wait=True)
