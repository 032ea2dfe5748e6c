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
@quiet_option
def features_cmd(dataset, backbone, pretrained, device, batch_size, workers, root, quiet) -> None:
    """Encode every image of DATASET once into the feature cache."""
    import time

    from web2sky_bench.manifest import read_manifest
    from web2sky_bench.models.backbones import load_backbone
    from web2sky_bench.models.features import FeatureCache, image_features

    folder = _dataset_folder(dataset, root)
    frame = read_manifest(folder)
    bb = load_backbone(backbone, pretrained, device, dataset_dir=folder)
    cached = len(FeatureCache(bb.key).load(set(frame["sha256"])))
    start = time.perf_counter()
    feats = image_features(bb, folder, frame, batch_size=batch_size, workers=workers, quiet=quiet)
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
