"""One seam for per-image work: run per-batch functions locally or on a Ray cluster.

The per-image stages (fetch-web, clean, hashing, embedding) are written as
*per-batch functions*: ``fn(batch: pd.DataFrame, **kwargs) -> pd.DataFrame``
with one output row per input row (manifest rows in, result columns out), or
callable classes (constructed once per worker, e.g. to hold a model). An
executor runs a chain of such :class:`Stage` s over a table cut into batches:

* :class:`LocalExecutor` (``--executor local``, the default): in-process, or a
  pool of ``workers`` processes (threads with ``threads=True``) on this machine.
* :class:`RayExecutor` (``--executor ray [--ray-address auto|ray://HOST:PORT]``):
  Ray Data: the table becomes a dataset (``ray.data.from_pandas``) and each
  stage one ``Dataset.map_batches`` call with the same function; class stages
  run as an actor pool, with a GPU each when the stage asks for one.

Both hand the results back in input order, with the same batch boundaries
(every batch starts at a multiple of ``batch_size``), so what a stage computes
and what the caller writes is the same on either executor. Ray is an optional
extra (``pip install web2sky-bench[ray]``) imported only when used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from web2sky_bench.errors import Web2SkyError

EXECUTORS = ("local", "ray")
ROW = "_row"
"""Column the executors add to carry each row's input position."""


@dataclass(frozen=True)
class Stage:
    """One per-batch step: ``fn(batch, **kwargs)``, or a class built as ``fn(**ctor_kwargs)`` then called.

    ``num_gpus``: GPUs per worker of this stage on Ray (0 on CPU-only clusters).
    ``concurrency``: workers (actors for a class stage) on Ray; None lets Ray decide
    (tasks) or uses one actor.
    """

    fn: Callable[..., pd.DataFrame]
    kwargs: dict[str, Any] = field(default_factory=dict)
    ctor_kwargs: dict[str, Any] = field(default_factory=dict)
    num_gpus: float = 0
    concurrency: int | None = None

    @property
    def is_class(self) -> bool:
        """Whether ``fn`` is a callable class (an actor on Ray)."""
        return isinstance(self.fn, type)


def _as_stages(stages: Stage | Callable | Sequence[Stage]) -> list[Stage]:
    if isinstance(stages, Stage):
        return [stages]
    if callable(stages):
        return [Stage(stages)]
    return list(stages)


def _checked(out: pd.DataFrame, batch: pd.DataFrame, stage: Stage) -> pd.DataFrame:
    if not isinstance(out, pd.DataFrame) or len(out) != len(batch):
        name = getattr(stage.fn, "__qualname__", repr(stage.fn))
        raise RuntimeError(f"per-batch function {name} must return one DataFrame row per input row")
    out = out.reset_index(drop=True)
    out[ROW] = batch[ROW].to_numpy()
    return out


def _run_chain(stages: list[Stage], batch: pd.DataFrame, instances: dict[int, Any] | None = None) -> pd.DataFrame:
    """Apply every stage to one batch in this process (class stages built once per ``instances``)."""
    instances = {} if instances is None else instances
    for k, stage in enumerate(stages):
        if stage.is_class:
            if k not in instances:
                instances[k] = stage.fn(**stage.ctor_kwargs)
            out = instances[k](batch.drop(columns=[ROW]), **stage.kwargs)
        else:
            out = stage.fn(batch.drop(columns=[ROW]), **stage.kwargs)
        batch = _checked(out, batch, stage)
    return batch


def _run_chain_job(job: tuple[list[Stage], pd.DataFrame]) -> pd.DataFrame:
    return _run_chain(*job)


class Executor:
    """Runs per-batch stages over a table; subclasses decide where."""

    name = "executor"

    def iter_batches(
        self,
        stages: Stage | Callable | Sequence[Stage],
        frame: pd.DataFrame,
        batch_size: int,
        *,
        desc: str = "",
        quiet: bool = False,
    ) -> Iterator[pd.DataFrame]:
        """Yield the output of every batch, in input order (index reset, ``_row`` column dropped)."""
        if batch_size < 1:
            raise Web2SkyError(f"batch size must be at least 1, got {batch_size}")
        frame = frame.reset_index(drop=True).copy()
        frame[ROW] = range(len(frame))
        with tqdm(total=len(frame), desc=desc or self.name, unit="img", disable=quiet) as bar:
            for out in self._run(_as_stages(stages), frame, batch_size):
                bar.update(len(out))
                yield out.drop(columns=[ROW]).reset_index(drop=True)

    def map_batches(
        self,
        stages: Stage | Callable | Sequence[Stage],
        frame: pd.DataFrame,
        batch_size: int,
        *,
        desc: str = "",
        quiet: bool = False,
    ) -> pd.DataFrame:
        """All outputs of :meth:`iter_batches` as one table aligned with ``frame``'s rows."""
        parts = list(self.iter_batches(stages, frame, batch_size, desc=desc, quiet=quiet))
        if not parts:
            return pd.DataFrame()
        return pd.concat(parts, ignore_index=True)

    def _run(self, stages: list[Stage], frame: pd.DataFrame, batch_size: int) -> Iterator[pd.DataFrame]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LocalExecutor(Executor):
    """This machine: in-process when ``workers <= 1`` or one batch, else a process (or thread) pool.

    The process pool forks; do not use it in a process that has called
    ``ray.init`` (forking Ray's gRPC threads can deadlock the children): use
    ``workers=1`` or threads there.
    """

    name = "local"

    def __init__(self, workers: int | None = None, threads: bool = False) -> None:
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self.threads = threads

    def _run(self, stages: list[Stage], frame: pd.DataFrame, batch_size: int) -> Iterator[pd.DataFrame]:
        batches = [frame.iloc[i : i + batch_size] for i in range(0, len(frame), batch_size)]
        if self.workers <= 1 or len(batches) <= 1:
            instances: dict[int, Any] = {}
            for batch in batches:
                yield _run_chain(stages, batch, instances)
            return
        pool_type = ThreadPoolExecutor if self.threads else ProcessPoolExecutor
        with pool_type(self.workers) as pool:
            yield from pool.map(_run_chain_job, [(stages, b) for b in batches])

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers}, threads={self.threads})"


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise Web2SkyError(
            "--executor ray needs Ray Data, which is not installed: pip install 'web2sky-bench[ray]' "
            "(or pip install 'ray[data]')"
        ) from exc
    return ray


class RayExecutor(Executor):
    """Ray Data on a Ray cluster: ``address`` None starts (or reuses) a local instance.

    ``address`` is anything ``ray.init`` takes: ``auto`` (the cluster this node
    belongs to, see ``ray start``) or ``ray://HOST:PORT`` (Ray Client). Every
    node needs web2sky-bench installed and the dataset folders (and the feature
    cache) on shared storage at the same paths; see docs/ray.md.
    ``workers`` caps the concurrent tasks of function stages (None: Ray decides).
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        self.ray = _import_ray()
        self.address = address
        self.workers = workers

    def connect(self) -> None:
        """Connect to the cluster (or start a local Ray) unless this process already is connected."""
        ray = self.ray
        if ray.is_initialized():
            return
        os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
        env_vars = {k: os.environ[k] for k in ("PYTHONPATH", "WEB2SKY_HOME", "HF_HUB_OFFLINE") if k in os.environ}
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     ignore_reinit_error=True, runtime_env={"env_vars": env_vars} if env_vars else None)
        except ConnectionError as exc:
            raise Web2SkyError(f"cannot reach the Ray cluster at {self.address!r}: {exc}; start it with "
                               "`ray start --head` (see docs/ray.md) or drop --ray-address") from exc

    def cluster_gpus(self) -> int:
        """GPUs in the cluster (0 when none)."""
        self.connect()
        return int(self.ray.cluster_resources().get("GPU", 0))

    def _run(self, stages: list[Stage], frame: pd.DataFrame, batch_size: int) -> Iterator[pd.DataFrame]:
        if len(frame) == 0:
            return
        self.connect()
        from ray.data import DataContext

        ctx = DataContext.get_current()
        ctx.execution_options.preserve_order = True  # keeps the batch boundaries of the local executor
        ctx.enable_progress_bars = False  # the executor's own bar counts rows
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        # Blocks of whole batches, a few per CPU, so that function stages run in parallel.
        cpus = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        n_batches = -(-len(frame) // batch_size)
        per_block = max(1, -(-n_batches // (4 * cpus))) * batch_size
        blocks = [frame.iloc[i : i + per_block] for i in range(0, len(frame), per_block)]
        ds = self.ray.data.from_pandas(blocks)
        for stage in stages:
            ds = ds.map_batches(
                _RayStage,
                fn_constructor_kwargs={"stage": stage},
                batch_size=batch_size,
                batch_format="pandas",
                zero_copy_batch=False,
                num_gpus=stage.num_gpus or None,
                concurrency=stage.concurrency or 1,
            ) if stage.is_class else ds.map_batches(
                _run_ray_function,
                fn_kwargs={"stage": stage},
                batch_size=batch_size,
                batch_format="pandas",
                num_gpus=stage.num_gpus or None,
                concurrency=stage.concurrency or self.workers,
            )
        for table in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield table.to_pandas()  # numpy dtypes, as the local executor gives

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, workers={self.workers})"


def _run_ray_function(batch: pd.DataFrame, stage: Stage) -> pd.DataFrame:
    return _checked(stage.fn(batch.drop(columns=[ROW]), **stage.kwargs), batch, stage)


class _RayStage:
    """Actor wrapper for a class stage: builds the class once, calls it per batch."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.instance = stage.fn(**stage.ctor_kwargs)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return _checked(self.instance(batch.drop(columns=[ROW]), **self.stage.kwargs), batch, self.stage)


def get_executor(name: str = "local", ray_address: str | None = None, workers: int | None = None,
                 threads: bool = False) -> Executor:
    """An executor by name: ``local`` (processes, or threads with ``threads``) or ``ray``."""
    if name == "local":
        if ray_address:
            raise Web2SkyError("--ray-address needs --executor ray")
        return LocalExecutor(workers, threads=threads)
    if name == "ray":
        return RayExecutor(ray_address, workers)
    raise Web2SkyError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
