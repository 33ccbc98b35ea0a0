"""``phalanx data``: record offline datasets (Flashbax Vaults in OG-MARL's layout) and describe them.

* ``phalanx data record env=E policy=RUN_DIR|random episodes=N [epsilon=...] out=DIR/NAME.vlt [quality=Good]``
  plays ``N`` episodes in batches of ``num_envs`` envs, each batch one compiled program (a ``lax.scan``
  over the env's time limit of ``vmap``-ped envs, every group acting through its policy's single-step
  ``act``); the rows come to the host once per batch and are appended to the vault
  (:class:`~phalanx.runtime.vault.VaultWriter`) with each episode laid out whole, one after another.
* ``phalanx data info PATH`` prints episodes, rows, the return distribution and every field's shape and
  dtype, and writes a histogram of episode returns (``<NAME>.vlt/<uid>_returns.png``).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.table import Table

from phalanx.config import build, ranged, split_args
from phalanx.envs.environment import Environment
from phalanx.errors import PhalanxError
from phalanx.evaluation import Actor, random_actor, state_actors
from phalanx.runtime.vault import (
    VaultWriter,
    episode_ends,
    episode_returns,
    group_layout,
    read_vault,
    resolve_path,
    structure,
    transition_row,
)


@dataclasses.dataclass(frozen=True)
class RecordConfig:
    """``phalanx data record``: episodes of a policy written to a new vault.

    Attributes:
        env: the env (default: the policy run's; required for ``policy=random``).
        policy: ``random`` (uniform legal actions) or a ``phalanx train`` run directory (its last checkpoint).
        episodes: episodes to record.
        epsilon: each agent's action is replaced by a uniformly random legal one with this probability.
        out: the vault directory ``DIR/NAME.vlt``; the dataset goes to ``DIR/NAME.vlt/<quality>``.
        quality: the dataset's label and vault uid (OG-MARL's ``Good``/``Medium``/``Poor``; default
            ``Random`` for ``policy=random``, else ``Policy``).
        num_envs: episodes played at once (one compiled batch, one write).
        greedy: a trained policy acts with its deterministic policy (else its evaluation sampling).
        member: which seed of a ``num_seeds > 1`` run.
        seed: the recording's seed.
    """

    env: str | None = None
    policy: str = "random"
    episodes: int = ranged(100, min=1)
    epsilon: float = ranged(0.0, min=0.0)
    out: str | None = None
    quality: str | None = None
    num_envs: int = ranged(64, min=1)
    greedy: bool = True
    member: int = ranged(0, min=0)
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class InfoConfig:
    """``phalanx data info PATH [out=FILE.png]``: the dataset (``DIR/NAME.vlt[/UID]``) and the histogram's path."""

    path: str | None = None
    out: str | None = None


def resolve(args: list[str]) -> RecordConfig | InfoConfig:
    """The typed config of ``phalanx data record|info ARGS`` (``phalanx config data ...``); nothing is run."""
    if not args or args[0] not in ("record", "info"):
        raise PhalanxError("usage: phalanx data record env=E policy=RUN_DIR|random episodes=N out=DIR/NAME.vlt "
                           "[epsilon=] [quality=] | phalanx data info PATH [out=FILE.png]")
    if args[0] == "info":
        positional = [a for a in args[1:] if "=" not in a]
        values, _ = split_args([a for a in args[1:] if "=" in a])
        if len(positional) > 1 or (positional and "path" in values):
            raise PhalanxError("usage: phalanx data info PATH [out=FILE.png] (PATH: DIR/NAME.vlt[/UID]).")
        config = build(InfoConfig, {**values, **({"path": positional[0]} if positional else {})})
        if config.path is None:
            raise PhalanxError("usage: phalanx data info PATH [out=FILE.png] (PATH: DIR/NAME.vlt[/UID]).")
        return config
    import phalanx

    values, env_settings = split_args(args[1:])
    config = build(RecordConfig, values)
    if config.out is None:
        raise PhalanxError("phalanx data record needs out=DIR/NAME.vlt (where the vault goes).")
    if config.policy == "random" and config.env is None:
        raise PhalanxError("phalanx data record policy=random needs env=NAME.")
    if config.env is not None:
        phalanx.make(config.env, **env_settings)  # unknown env or setting: one line
    return config


def rollout(env: Environment, actors: dict[str, Actor], key: jax.Array, epsilon: float,
            steps: int | None = None) -> tuple[dict, jax.Array]:
    """One episode in each of ``E`` envs: ``(rows {field: (T, E, ...)}, live (T, E) bool)``, ``T = steps``
    (default the env's time limit).

    With ``epsilon == 0`` it plays exactly the episodes :func:`phalanx.evaluation.play` plays for the same
    actors and key (the same key splits), so ``phalanx eval record=PATH`` records the episodes it scores.

    Pure and jittable. ``rows[t]`` holds what was seen before step ``t`` (observations, legal actions,
    state) and what step ``t`` gave (actions, rewards, terminals, truncations), groups side by side on
    the agent axis; ``live[t]``: step ``t`` belongs to the episode (up to and including its last step).
    """
    groups = tuple(env.spec.groups)
    num_envs = int(actors[groups[0]].hidden.shape[0])
    randoms = {g: random_actor(env, g, num_envs) for g in groups}
    like = structure(env)

    def body(carry, k):
        state, ts, hidden, over, first = carry
        k_act, k_env = jax.random.split(k)  # as evaluation.play: groups act with split(k_act, G)
        acts = jax.random.split(k_act, len(groups))
        noise = jax.random.split(jax.random.fold_in(k, 1), 2 * len(groups))
        firsts = jnp.full((num_envs,), first)
        actions, new_hidden = {}, {}
        for i, g in enumerate(groups):
            a, mask = actors[g], ts.action_mask.get(g)
            actions[g], new_hidden[g] = a.act(a.params, g, hidden[g], ts.obs[g], firsts, acts[i],
                                              mask=mask, greedy=a.greedy)
            if epsilon > 0:
                r = randoms[g]
                explore, _ = r.act(None, g, r.hidden, ts.obs[g], firsts, noise[2 * i], mask=mask)
                pick = jax.random.uniform(noise[2 * i + 1], explore.shape[:2]) < epsilon
                pick = pick.reshape(pick.shape + (1,) * (explore.ndim - 2))
                actions[g] = jnp.where(pick, explore, actions[g]).astype(actions[g].dtype)
        new_state, nts = jax.vmap(env.step)(jax.random.split(k_env, num_envs), state, actions)
        row = transition_row(groups, ts.obs, ts.action_mask, ts.global_state, actions, nts, like)
        return (new_state, nts, new_hidden, over | nts.done, jnp.bool_(False)), (row, ~over)

    k_reset, k_run = jax.random.split(key)
    state, ts = jax.vmap(env.reset)(jax.random.split(k_reset, num_envs))
    hidden = {g: a.hidden for g, a in actors.items()}
    carry = (state, ts, hidden, jnp.zeros(num_envs, bool), jnp.bool_(True))
    _, (rows, live) = jax.lax.scan(body, carry, jax.random.split(k_run, steps or env.time_limit))
    return rows, live


def episodes_of(rows: dict, live: np.ndarray) -> tuple[dict, list[float]]:
    """Host rows ``(T, E, ...)`` → each env's episode whole, one after another ``(sum of lengths, ...)``,
    and each episode's return (summed rewards averaged over the agents). An episode still running at
    the last step is marked truncated there.
    """
    rows = jax.tree.map(np.asarray, rows)
    parts, returns = [], []
    for e in range(live.shape[1]):
        n = int(live[:, e].sum())
        ep = jax.tree.map(lambda x, e=e, n=n: x[:n, e].copy(), rows)
        if not episode_ends(ep)[-1]:
            ep["truncations"][-1] = 1.0
        parts.append(ep)
        returns.append(float(ep["rewards"].mean(-1).sum()))
    return jax.tree.map(lambda *x: np.concatenate(x), *parts), returns


def _policy(config: RecordConfig, env_settings: dict[str, Any]) -> tuple[str, dict[str, Any], Any]:
    """``(env name, env settings, make_actors(env, num_envs))`` for the config's policy."""
    if config.policy == "random":
        if config.env is None:
            raise PhalanxError("phalanx data record policy=random needs env=NAME.")
        return config.env, env_settings, lambda env, n: {g: random_actor(env, g, n) for g in env.spec.groups}
    from phalanx.runtime.evaluate import load_policy

    run_config, trainer, _, state, _ = load_policy(config.policy, config.member)
    if config.env is not None and config.env != run_config.env:
        raise PhalanxError(f"env={config.env}: policy={config.policy} was trained on {run_config.env!r}.")
    settings = {**run_config.env_settings, **env_settings}
    return run_config.env, settings, lambda env, n: state_actors(trainer, state, n, config.greedy)


def record(args: list[str], console: Console) -> Path:
    """``phalanx data record ...``: write the dataset; return its vault (uid) directory."""
    import phalanx

    config = resolve(["record", *args])
    _, env_settings = split_args(args)
    name, settings, make_actors = _policy(config, env_settings)
    env = phalanx.make(name, **settings)
    layout = group_layout(env)
    quality = config.quality or ("Random" if config.policy == "random" else "Policy")
    path = Path(config.out) / quality
    policy = "random" if config.policy == "random" else str(Path(config.policy).resolve())
    metadata = {"env": name, "env_settings": settings, "policy": policy, "quality": quality,
                "epsilon": config.epsilon, "greedy": config.greedy, "seed": config.seed,
                "groups": {g: list(v) for g, v in layout.items()},
                "obs_shapes": {g: list(s.observation.shape) for g, s in env.spec.groups.items()},
                "action": repr(next(iter(env.spec.groups.values())).action)}
    writer = VaultWriter(path, env, metadata)
    num_envs = min(config.num_envs, config.episodes)
    actors = make_actors(env, num_envs)
    play = jax.jit(lambda a, k: rollout(env, a, k, config.epsilon))
    keys = jax.random.split(jax.random.PRNGKey(config.seed), math.ceil(config.episodes / num_envs))
    console.print(f"[bold]phalanx data record[/bold] {name}: {config.episodes} episodes of {config.policy} "
                  f"(epsilon={config.epsilon}) → {path} (compiling...)", soft_wrap=True)
    done = total = 0
    for key in keys:
        rows, live = jax.device_get(play(actors, key))
        take = min(num_envs, config.episodes - done)
        rows, returns = episodes_of(jax.tree.map(lambda x, t=take: x[:, :t], rows), live[:, :take])
        total += writer.write(rows, returns)
        done += take
    r = np.asarray(writer.episode_returns)
    console.print(f"wrote {done} episodes ({total} rows), "
                  f"return {r.mean():.3f} ± {r.std():.3f}: {path}", soft_wrap=True)
    return path


def eval_record_path(out: str, quality: str | None = None) -> Path:
    """Where ``phalanx eval record=OUT`` writes (``OUT/<quality or Policy>``); one line if it exists."""
    path = Path(out) / (quality or "Policy")
    if path.exists():
        raise PhalanxError(f"record={out}: a dataset exists at {path} already; choose another record=.")
    return path


def record_eval(loaded: tuple, run_dir: str, out: str, episodes: int, seed: int, greedy: bool,
                max_steps: int | None, console: Console) -> Path:
    """``phalanx eval ... record=OUT``: the trained policy's evaluated episodes (same seed, so the same
    episodes :func:`phalanx.runtime.evaluate.evaluate_loaded` scored) written to ``OUT/<quality>``."""
    config, trainer, env, state, step = loaded
    layout = group_layout(env)
    path = eval_record_path(out)
    metadata = {"env": config.env, "env_settings": dict(config.env_settings), "policy": str(Path(run_dir).resolve()),
                "quality": path.name,
                "epsilon": 0.0, "greedy": greedy, "seed": seed, "checkpoint": step,
                "groups": {g: list(v) for g, v in layout.items()},
                "obs_shapes": {g: list(s.observation.shape) for g, s in env.spec.groups.items()},
                "action": repr(next(iter(env.spec.groups.values())).action)}
    writer = VaultWriter(path, env, metadata)
    actors = state_actors(trainer, state, episodes, greedy)
    rows, live = jax.device_get(jax.jit(lambda a, k: rollout(env, a, k, 0.0, max_steps))(
        actors, jax.random.PRNGKey(seed)))
    rows, returns = episodes_of(rows, live)
    total = writer.write(rows, returns)
    console.print(f"recorded the {episodes} trained episodes ({total} rows): {path}", soft_wrap=True)
    return path


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def info(args: list[str], console: Console) -> dict[str, Any]:
    """``phalanx data info PATH [out=FILE.png]``: print what the dataset holds; return the numbers."""
    from phalanx.runtime.plots import figure, save

    config = resolve(["info", *args])
    path = resolve_path(config.path, "path")
    exp, meta = read_vault(path, "path")
    ph = meta.get("phalanx", {})
    ends = episode_ends(exp)
    layout = ph.get("groups") or {"agents": [0, exp["rewards"].shape[1]]}
    returns = {g: episode_returns(exp, slice(a, b)) for g, (a, b) in layout.items()}
    table = Table(title=f"{path}: env {ph.get('env', '?')}, policy {ph.get('policy', '?')}, "
                        f"quality {ph.get('quality', path.name)}, epsilon {ph.get('epsilon', '?')}")
    for col in ("field", "shape", "dtype"):
        table.add_column(col)
    for key, x in sorted(jax.tree_util.tree_flatten_with_path(exp)[0], key=lambda kv: jax.tree_util.keystr(kv[0])):
        table.add_row(".".join(str(getattr(k, "key", k)) for k in key), str((1, *x.shape)), str(x.dtype))
    console.print(table)
    console.print(f"rows (time steps): {len(ends)}   episodes: {int(ends.sum())}   size on disk: "
                  f"{_size(path) / 1e6:.2f} MB")
    for g, r in returns.items():
        if r.size:
            console.print(f"return ({g}): mean {r.mean():.3f}  std {r.std():.3f}  min {r.min():.3f}  "
                          f"median {np.median(r):.3f}  max {r.max():.3f}")
    fig = figure(5.0, 3.2)
    ax = fig.add_subplot()
    for g, r in returns.items():
        ax.hist(r, bins=30, alpha=0.6, label=g)
    ax.set_xlabel("episode return (mean over the group's agents)")
    ax.set_ylabel("episodes")
    ax.set_title(f"{ph.get('env', '')} {path.name}")
    if len(returns) > 1:
        ax.legend()
    out = Path(config.out or path.parent / f"{path.name}_returns.png")
    save(fig, out)
    console.print(f"wrote {out}", soft_wrap=True)
    return {"path": path, "rows": len(ends), "episodes": int(ends.sum()), "returns": returns, "histogram": out,
            "fields": jax.tree.map(lambda x: (x.shape, x.dtype), exp)}


def main(args: list[str], console: Console) -> int:
    """``phalanx data record|info ...``."""
    if not args or args[0] not in ("record", "info"):
        resolve(args)  # the usage line
    (record if args[0] == "record" else info)(args[1:], console)
    return 0
