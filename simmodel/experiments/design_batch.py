"""A design's points as batch jobs of a Hydra launcher: SLURM through submitit, or any other.

:func:`launch` writes the points still to run and each option's validated configuration to
``design_jobs.json`` in the analysis folder, then starts this module as a Hydra multirun,
one job per batch (``batch=0..N-1``), through the launcher named (``hydra/launcher=...``),
and waits for the jobs. Each job runs the points of its batch (every N-th point) on the
CPUs it was given and appends them to its own ``points-NNNN.csv``, so jobs on several nodes
never write to the same file; the analysis reads every such file. A job that fails or is
cut off leaves its finished points; the same analysis command runs only the missing ones.

The configurations travel as plain YAML of the typed schema and are checked again in the
job (:func:`simmodel.compose.to_config`): no code or pickles cross to the cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

if TYPE_CHECKING:
    from ..config import Config
    from .design_runs import ClusterLaunch, Point

JOBS_FILE = "design_jobs.json"


@dataclass
class BatchJob:
    """One job: the analysis folder, its batch and how many batches there are."""

    folder: str = MISSING
    batch: int = 0
    batches: int = 1


ConfigStore.instance().store(name="design_batch", node=BatchJob)


def launch(
    points: list[Point], base: dict[str, Config], folder: Path, cluster: ClusterLaunch, scopes: str
) -> None:
    """Run ``points`` as ``cluster.batches`` jobs of ``cluster.launcher`` and wait for them."""
    folder = folder.resolve()  # jobs on other nodes see the same shared folder
    batches = min(cluster.batches or len(points), len(points))
    spec = {
        "scopes": scopes,
        "base": {name: OmegaConf.to_yaml(OmegaConf.structured(cfg)) for name, cfg in base.items()},
        "points": [asdict(p) for p in points],
    }
    from ..command_line import hydra_quoted
    from ..outputs.results import write_atomic

    write_atomic(folder / JOBS_FILE, json.dumps(spec, indent=1))
    command = [
        sys.executable,
        "-m",
        "simmodel.experiments.design_batch",
        "-m",
        f"folder={hydra_quoted(str(folder))}",  # Hydra reads the text back as it is
        f"batches={batches}",
        f"batch=range(0,{batches})",
        f"hydra/launcher={cluster.launcher}",
        f"hydra.sweep.dir={hydra_quoted(str(folder / 'batches'))}",
        *cluster.hydra_args,
    ]
    print(f"  sending {len(points)} points to {cluster.launcher} as {batches} job(s)", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ})
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        from ..config import ConfigError

        raise ConfigError(f"the launcher {cluster.launcher} failed: {' | '.join(tail)}")


def run_batch(folder: Path, batch: int, batches: int) -> int:
    """Run batch ``batch`` of ``batches`` of the points in ``folder/design_jobs.json``; returns
    how many points it ran."""
    from ..compose import to_config
    from ..config import Config
    from .design_runs import Point, run_points

    spec = json.loads((folder / JOBS_FILE).read_text(encoding="utf-8"))
    base = {
        name: to_config(OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(text)))
        for name, text in spec["base"].items()
    }
    points = [Point(p["index"], p["option"], p["values"]) for p in spec["points"]][batch::batches]
    cores = int(os.environ.get("SLURM_CPUS_PER_TASK", "0"))  # else every core of this machine
    run_points(points, base, folder, jobs=cores, scopes=spec["scopes"], store_name=f"points-{batch:04d}.csv")
    return len(points)


@hydra.main(version_base=None, config_name="design_batch")
def main(job: BatchJob) -> None:
    ran = run_batch(Path(job.folder), job.batch, job.batches)
    print(f"batch {job.batch} of {job.batches}: {ran} points")


def check_arguments(args: list[str]) -> None:
    """The batch job's command line (made by :func:`launch`) may hold only its own settings, the
    launcher and its checked settings, and the sweep folder: it runs through Hydra like the main
    command line, so the same trust boundary applies (ConfigError otherwise)."""
    from ..command_line import FOLDER_TEXT, check_hydra_setting, parse
    from ..config import ConfigError

    for arg in args:
        if arg in ("-m", "--multirun"):
            continue
        parsed = parse(arg)
        key, value = parsed.key_or_group, parsed.value()
        if key == "folder":
            if not (isinstance(value, str) and FOLDER_TEXT.fullmatch(value)):
                raise ConfigError(f"folder={str(value)[:60]}: a plain folder name")
        elif key in ("hydra/launcher", "hydra.sweep.dir") or key.startswith("hydra.launcher."):
            check_hydra_setting(arg)
        elif key not in ("batches", "batch"):  # (numbers or a range: Hydra's schema checks their type)
            raise ConfigError(f"{key[:60]}: not a setting of a batch job")


if __name__ == "__main__":
    from ..config import ConfigError

    try:
        check_arguments(sys.argv[1:])
    except ConfigError as exc:
        print(f"simmodel: error: {exc}", file=sys.stderr)
        sys.exit(2)
    main()
