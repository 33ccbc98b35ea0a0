"""Remote actors on a two-node ``ray.cluster_utils.Cluster`` (two raylets on this machine, one CPU each)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from rich.console import Console

HERE = Path(__file__).parent
ARGS = ["env=pettingzoo:actor_envs", "algo=ippo", "backend=ray", "ray.num_actors=2", "ray.num_cpus=1",
        "train.num_envs=8", "train.num_steps=16", "train.total_steps=512", "train.num_minibatches=2",
        "train.hidden=[32,32]", "log_every=2"]


@pytest.mark.slow
def test_two_actors_run_one_on_each_node(tmp_path):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from phalanx.runtime import run_dir as rd
    from phalanx.runtime.launch import launch
    from phalanx.runtime.run_config import resolve
    from phalanx.runtime.train_run import run

    os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")  # a loaded 2-core machine starts Ray slowly
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, runtime_env={"env_vars": {"PYTHONPATH": path}}, log_to_driver=False)
        out = tmp_path / "run"
        launch(run, rd.TRAIN, resolve([*ARGS, f"run_dir={out}"]), console=Console(file=io.StringIO()))
        lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert [line["update"] for line in lines] == [2, 4]
    workers = lines[-1]["workers"]
    assert all(w["blocks"] >= 2 for w in workers)
    assert len({w["node"] for w in workers}) == 2  # one CPU per node: each actor on its own node
