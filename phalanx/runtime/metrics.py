"""Chunk metrics → ``metrics.jsonl`` lines, TensorBoard scalars and the marl-eval JSON data.

One line of ``metrics.jsonl`` per log step (one compiled chunk of ``log_every`` updates)::

    {"chunk": 3, "update": 40, "env_steps": 20480, "wall_time": 12.3, "steps_per_s": 51234.0,
     "episodes": 160, "episode_return": {"agents": -31.2}, "episode_length": 25.0,
     "policy_loss": {"agents": ...}, "value_loss": {...}, "entropy": {...},
     "approx_kl": {...}, "clip_fraction": {...}}

``env_steps`` and ``update`` count per seed; ``steps_per_s`` counts every seed's steps.
``episode_return`` is the mean over episodes completed in the chunk (each episode's return
averaged over the group's agents), ``null`` when none completed; an env's episode metrics
(``EpisodeStats.metrics``, e.g. SMAX's ``"win_rate": 0.8``) are means over the same episodes; losses are means over the
chunk's updates. With ``num_seeds > 1`` every per-seed quantity above is the mean over seeds
(ignoring seeds with ``null``), and ``"seeds"`` holds the same keys for each seed, in seed order.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from phalanx.runtime.atomic import write_text

#: Entries of a learner's metrics that are not losses/diagnostics (those are logged as they come).
EPISODE_KEYS = ("env_steps", "episode_return_sum", "episode_length_sum", "episode_count", "episode_metric_sums")


def extra_keys(m: dict[str, Any]) -> list[str]:
    """The learner-specific entries of an update's metrics (PPO: policy_loss, value_loss, ...)."""
    return [k for k in m if k not in EPISODE_KEYS]


def _reduce(x: Any, pick: Any) -> Any:
    """``{group: mean}`` for a per-group entry, a plain mean for a scalar one."""
    if isinstance(x, dict):
        return {g: float(np.mean(pick(v))) for g, v in x.items()}
    return float(np.mean(pick(x)))


def _ratio(total: float, count: float) -> float | None:
    return float(total / count) if count > 0 else None


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def seed_entries(m: dict[str, Any], num_seeds: int) -> list[dict[str, Any]]:
    """Per-seed summaries of a chunk's ``UpdateMetrics`` as a dict of host arrays (``(L,)`` or ``(S, L)``)."""
    entries = []
    for s in range(num_seeds):
        def pick(x, s=s):
            return x[s] if num_seeds > 1 else x
        count = float(pick(m["episode_count"]).sum())
        entry = {
            "episodes": int(count),
            "episode_return": {g: _ratio(float(pick(x).sum()), count) for g, x in m["episode_return_sum"].items()},
            "episode_length": _ratio(float(pick(m["episode_length_sum"]).sum()), count),
        }
        for name, x in m.get("episode_metric_sums", {}).items():  # the env's (SMAX: win_rate), per episode
            entry[name] = _ratio(float(pick(x).sum()), count)
        for key in extra_keys(m):
            entry[key] = _reduce(m[key], pick)
        entries.append(entry)
    return entries


def make_line(chunk: int, update: int, env_steps: int, wall_time: float, steps_per_s: float,
              seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """One ``metrics.jsonl`` object (see the module docstring)."""
    line: dict[str, Any] = {"chunk": chunk, "update": update, "env_steps": env_steps,
                            "wall_time": round(wall_time, 4), "steps_per_s": round(steps_per_s, 1)}
    if len(seeds) == 1:
        return line | seeds[0]
    line["episodes"] = int(sum(s["episodes"] for s in seeds))
    line["episode_return"] = {g: _mean([s["episode_return"][g] for s in seeds]) for g in seeds[0]["episode_return"]}
    line["episode_length"] = _mean([s["episode_length"] for s in seeds])
    base = {"episodes", "episode_return", "episode_length"}
    for key in (k for k in seeds[0] if k not in base):
        if isinstance(seeds[0][key], dict):
            line[key] = {g: _mean([s[key][g] for s in seeds]) for g in seeds[0][key]}
        else:
            line[key] = _mean([s[key] for s in seeds])
    line["seeds"] = seeds
    return line


class MetricsLog:
    """Append-only ``metrics.jsonl``; ``truncate(n)`` keeps the first ``n`` complete lines."""

    def __init__(self, path: Path):
        self.path = path

    def truncate(self, n: int) -> None:
        """Keep only the first ``n`` complete lines (what a checkpoint had logged), rewriting the file."""
        lines = self.read_raw()[:n] if self.path.exists() else []
        write_text(self.path, "".join(line + "\n" for line in lines))  # a kill here keeps the old file

    def read_raw(self) -> list[str]:
        """Every complete line as text (a last line cut short by a kill is dropped); ``[]`` with no file."""
        if not self.path.exists():
            return []
        text = self.path.read_text()
        lines = text.split("\n")
        return [line for line in lines[:-1] if line]  # a last line without "\n" was cut short

    def read(self) -> list[dict[str, Any]]:
        """Every complete line, parsed."""
        return [json.loads(line) for line in self.read_raw()]

    def append(self, line: dict[str, Any]) -> None:
        """Append one line (a JSON object) to the log."""
        with self.path.open("a") as f:
            f.write(json.dumps(line) + "\n")


class TensorBoard:
    """A run's TensorBoard event file; ``purge_step`` drops events logged past a checkpoint.

    :meth:`write` logs a ``phalanx train`` metrics line at ``global_step = env_steps``; :meth:`scalars` any
    named values (population iterations, league Elo).
    """

    def __init__(self, path: Path, purge_step: int | None = None):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(str(path), purge_step=purge_step)

    def write(self, line: dict[str, Any]) -> None:
        """Log one metrics line's scalars (throughput, episode stats, per-group losses) at its ``env_steps``."""
        step = line["env_steps"]
        w = self.writer
        w.add_scalar("perf/steps_per_s", line["steps_per_s"], step)
        if line["episode_length"] is not None:
            w.add_scalar("episode/length", line["episode_length"], step)
        for g, v in line["episode_return"].items():
            if v is not None:
                w.add_scalar(f"episode/return/{g}", v, step)
        skip = {"chunk", "update", "env_steps", "wall_time", "steps_per_s", "episodes", "episode_return",
                "episode_length", "seeds"}
        for key in (k for k in line if k not in skip):
            values = line[key] if isinstance(line[key], dict) else {"all": line[key]}
            for g, v in values.items():
                if isinstance(v, int | float):
                    w.add_scalar(f"loss/{key}/{g}", v, step)
        for k, seed in enumerate(line.get("seeds", [])):
            for g, v in seed["episode_return"].items():
                if v is not None:
                    w.add_scalar(f"episode/return/{g}/seed_{k}", v, step)
        w.flush()

    def scalars(self, values: dict[str, Any], step: int) -> None:
        """Log ``{tag: value}`` at ``step`` (None values are left out) and flush."""
        for tag, value in values.items():
            if value is not None:
                self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


def marl_eval(lines: list[dict[str, Any]], env_name: str, task_name: str, algo_name: str,
              num_agents: dict[str, int], episode_metrics: tuple[str, ...] = (),
              absolute: list[dict[str, list[float]]] | None = None) -> dict[str, Any]:
    """The run in marl-eval's raw-data format.

    ``{env: {task: {ALGO: {"seed_k": {"step_i": {"step_count", "return", ...}, "absolute_metrics": {...}}}}}}``
    (env and task lower case, algorithm upper case, as marl-eval's ``DiagnoseData`` normalises
    them). ``return`` is the agent-weighted mean over groups of the chunk's mean episode return
    (``return_<group>`` per group as well when there are several groups), a one-element list per
    step; a chunk without completed episodes repeats the seed's previous value, and leading steps
    before every seed has finished an episode are left out so every seed has the same steps.
    ``absolute_metrics`` (each seed's entry of ``absolute``) is the final policy's evaluation, per episode
    (:func:`phalanx.runtime.final_eval.final_evaluation`); without ``absolute`` (a run not finished yet) it is
    left out rather than filled with training means.
    Each of the env's ``episode_metrics`` found in a line (SMAX's ``win_rate``, Mava's eval metric
    name) is written beside ``return`` under its own name.
    """
    groups = list(num_agents)
    total = sum(num_agents.values())
    num_seeds = len(lines[0]["seeds"]) if lines and "seeds" in lines[0] else 1

    def values(entry: dict[str, Any]) -> dict[str, float] | None:
        r = entry["episode_return"]
        if any(r[g] is None for g in groups):
            return None
        out = {"return": sum(r[g] * num_agents[g] for g in groups) / total}
        if len(groups) > 1:
            out |= {f"return_{g}": r[g] for g in groups}
        out |= {m: entry[m] for m in episode_metrics if entry.get(m) is not None}
        return out

    per_seed: list[list[tuple[int, dict[str, float] | None]]] = [[] for _ in range(num_seeds)]
    for line in lines:
        entries = line.get("seeds", [line])
        for k, entry in enumerate(entries):
            v = values(entry)
            prev = per_seed[k][-1][1] if per_seed[k] else None
            per_seed[k].append((int(line["env_steps"]), v if v is not None else prev))
    first = next((i for i in range(len(lines)) if all(s[i][1] is not None for s in per_seed)), len(lines))
    runs: dict[str, Any] = {}
    for k, seq in enumerate(per_seed):
        steps: dict[str, Any] = {}
        for i, (count, v) in enumerate(seq[first:]):
            steps[f"step_{i}"] = {"step_count": count, **{m: [_finite(x)] for m, x in v.items()}}
        if seq[first:] and absolute is not None:
            steps["absolute_metrics"] = {m: [_finite(x) for x in v] for m, v in absolute[k].items()}
        runs[f"seed_{k}"] = steps
    return {env_name.lower(): {task_name.lower(): {algo_name.upper(): runs}}}


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) else 0.0
