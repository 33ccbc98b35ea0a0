"""Remote actors on a two-node ``ray.cluster_utils.Cluster`` (two raylets on this machine)."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

HERE = Path(__file__).parent
ARGS = ["env=pettingzoo:actor_envs", "algo=ippo", "backend=ray", "ray.num_actors=2", "ray.num_cpus=1",
        "train.num_envs=8", "train.num_steps=16", "train.total_steps=512", "train.num_minibatches=2",
        "train.hidden=[32,32]", "log_every=2"]


def two_nodes(head_cpus: int):
    """A head node with ``head_cpus`` CPUs and one worker node with 1, the driver connected (actors import the test
    env from this folder); returns ``(ray, cluster, worker_node)``."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_raylet_start_wait_time_s", "300")  # a loaded 2-core machine starts Ray slowly
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": head_cpus})
    worker = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, runtime_env={"env_vars": {"PYTHONPATH": path}}, log_to_driver=False)
    return ray, cluster, worker


def train(args: list[str], out: Path) -> list[dict]:
    from phalanx.runtime import run_dir as rd
    from phalanx.runtime.launch import launch
    from phalanx.runtime.run_config import resolve
    from phalanx.runtime.train_run import run

    launch(run, rd.TRAIN, resolve([*args, f"run_dir={out}"]), console=Console(file=io.StringIO()))
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_actors_run_one_on_each_node(tmp_path):
    ray, cluster, _ = two_nodes(head_cpus=1)
    try:
        lines = train(ARGS, tmp_path / "run")
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert [line["update"] for line in lines] == [2, 4]
    workers = lines[-1]["workers"]
    assert all(w["blocks"] >= 2 for w in workers)
    assert len({w["node"] for w in workers}) == 2  # one CPU per node: each actor on its own node


def remove_node_once_it_delivered(cluster, node, path: Path, removed: list) -> None:
    """Wait for a metrics line saying an actor's last block came from ``node``, then remove ``node`` (that actor
    has its next rollout in flight); ``removed`` gets that actor's index."""
    deadline = time.time() + 300
    while time.time() < deadline:
        metrics = path / "metrics.jsonl"
        lines = metrics.read_text().splitlines() if metrics.exists() else []
        on_node = [w["actor"] for w in json.loads(lines[-1])["workers"] if w["node"] == node.node_id] if lines else []
        if on_node:
            cluster.remove_node(node)
            removed.extend(on_node)
            return
        time.sleep(0.05)


@pytest.mark.slow
def test_an_actor_on_a_lost_node_is_replaced_on_the_surviving_node(tmp_path):
    """The worker node goes away mid-run: its actor dies with its block in flight, a replacement starts on the head
    node (2 CPUs: one free), the run ends and the lost block is counted."""
    ray, cluster, worker = two_nodes(head_cpus=2)
    path, removed = tmp_path / "run", []
    remover = threading.Thread(target=remove_node_once_it_delivered, args=(cluster, worker, path, removed))
    try:
        remover.start()
        args = [a for a in ARGS if not a.startswith(("train.total_steps=", "log_every="))]
        # 12 updates of 128 env steps, each env step 10 ms: the run outlasts the replacement's start-up.
        lines = train([*args, "train.total_steps=1536", "log_every=1", "env.step_sleep_s=0.01"], path)
        remover.join()
        head = ray.get_runtime_context().get_node_id()
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert len(removed) == 1, f"not one actor on the removed node: {removed}"
    lost_actor = removed[0]
    assert lines[-1]["update"] == 12 and lines[-1]["env_steps"] == 1536  # the run went on to the end
    last = lines[-1]
    assert last["actors_replaced"] >= 1
    assert last["lost_env_steps"] == last["actors_replaced"] * 4 * 16  # whole blocks: 4 envs × 16 steps each
    replaced = next(line for line in lines if line["workers"][lost_actor]["replaced"])["workers"][lost_actor]
    assert last["workers"][lost_actor]["blocks"] > replaced["blocks"]  # the replacement delivered blocks ...
    assert all(w["node"] == head for w in last["workers"])  # ... from the surviving node
