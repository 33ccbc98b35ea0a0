"""A trained policy in one call: ``policy = phalanx.load_policy(run_dir)``, then ``policy.act(obs)``.

::

    import phalanx

    policy = phalanx.load_policy("runs/simple_spread-ippo-20250101-120000")   # member=k: seed k
    env = policy.env
    state, ts = env.reset(jax.random.PRNGKey(0))
    actions, hidden = policy.act(ts.obs, greedy=True)             # {group: (A, ...)} for one env
    state, ts = env.step(key, state, actions)
    actions, hidden = policy.act(ts.obs, hidden, greedy=True)     # carry the recurrent state along

It is the learner protocol's single-step ``act`` (:mod:`phalanx.algos.common.protocol`) on the
``policy_params`` of the run's newest intact checkpoint, jitted once per group, for every group of the env.
Observations are ``{group: (A, ...)}`` for one env or ``{group: (E, A, ...)}`` for a batch of ``E`` envs
(told apart by the group's observation shape); actions come back in the same layout. ``hidden=None`` starts
an episode (zero recurrent state, ``first`` set); ``key=None`` draws from the policy's own key stream.

Runs it reads: ``phalanx train`` (``member``: which seed of ``num_seeds``; on ``env=pettingzoo:...``, local or
on remote actors, ``policy.env`` is only the env's spec: step the PettingZoo env yourself), ``phalanx league``
(``member``: a player's name or index; default the first main agent) and ``phalanx psro|selfplay`` with
learned members (``population.oracle=learned``; ``member``: index ``k`` of each player's population, or a
pair ``(k0, k1)``; negative counts from the newest; default the newest member of each). ``greedy=True`` is the
learner's deterministic policy (PPO: the most likely action; value-based: argmax Q; continuous: the mean action).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phalanx.errors import PhalanxError


class Policy:
    """Every group's trained policy of one run member, acting one step at a time (see the module docstring).

    Attributes:
        env: the run's environment (as the run made it).
        params: ``{group: the params act needs}`` (``policy_params`` of the checkpoint).
        learners: ``{group: the learner that acts for it}``.
        step: the checkpoint step it was loaded from.
        member: the seed index (train runs), player name (league runs) or ``(k0, k1)`` member indices (psro).
    """

    def __init__(self, env: Any, learners: dict[str, Any], params: dict[str, Any], step: int, member: Any,
                 seed: int = 0):
        self.env, self.learners, self.params, self.step, self.member = env, learners, params, step, member
        self._key = jax.random.PRNGKey(seed)
        self._act = {g: jax.jit(learner.act, static_argnums=1, static_argnames=("greedy",))
                     for g, learner in learners.items()}

    @property
    def groups(self) -> tuple[str, ...]:
        """The env's groups, in its order."""
        return tuple(self.env.spec.groups)

    def initial_hidden(self, batch: int = 1) -> dict[str, jax.Array]:
        """Zero recurrent state ``{group: (batch, A, H)}`` (``H = 0`` for feed-forward policies)."""
        out = {}
        for g, learner in self.learners.items():
            out[g] = learner.initial_hidden(batch)[g]
        return out

    def act(self, obs: dict[str, Any], hidden: dict[str, Any] | None = None, key: jax.Array | None = None,
            first: Any = None, greedy: bool = False, mask: dict[str, Any] | None = None,
            ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
        """One step of every group: ``(actions, hidden)``.

        Args:
            obs: ``{group: (A, *obs_shape)}`` (one env) or ``{group: (E, A, *obs_shape)}`` (a batch).
            hidden: the recurrent state the previous call returned; None: a new episode (zero state).
            key: a PRNG key for sampled actions; None: the policy's own stream (a new key each call).
            first: ``()`` / ``(E,)`` bool, True where an episode starts (recurrent state reset); None: True
                when ``hidden`` is None, else False.
            greedy: the learner's deterministic policy instead of its sampled evaluation behaviour.
            mask: ``{group: (A, n)}`` / ``(E, A, n)`` legal actions of discrete groups (None: all legal).

        Returns:
            actions in the layout of ``obs`` (``(A, ...)`` or ``(E, A, ...)`` per group) and the new hidden
            state (always batched, ``(E, A, H)``; pass it back as it is).
        """
        missing = [g for g in self.groups if g not in obs]
        if missing:
            raise PhalanxError(f"act: obs has no {', '.join(missing)}; expected {{group: array}} with groups "
                               f"{list(self.groups)}.")
        single = self._single(obs)
        batch = {g: jnp.asarray(obs[g])[None] if single else jnp.asarray(obs[g]) for g in self.groups}
        envs = next(iter(batch.values())).shape[0]
        if first is None:
            first = jnp.full((envs,), hidden is None)
        first = jnp.broadcast_to(jnp.asarray(first, bool), (envs,))
        if hidden is None:
            hidden = self.initial_hidden(envs)
        if key is None:
            self._key, key = jax.random.split(self._key)
        keys = dict(zip(self.groups, jax.random.split(key, len(self.groups)), strict=True))
        actions, new_hidden = {}, {}
        for g in self.groups:
            m = None if mask is None or mask.get(g) is None else jnp.asarray(mask[g])
            if m is not None and single:
                m = m[None]
            actions[g], new_hidden[g] = self._act[g](self.params[g], g, hidden[g], batch[g], first, keys[g],
                                                     mask=m, greedy=greedy)
        if single:
            actions = {g: a[0] for g, a in actions.items()}
        return actions, new_hidden

    def _single(self, obs: dict[str, Any]) -> bool:
        """Whether ``obs`` is one env's (``(A, *shape)``) rather than a batch's (``(E, A, *shape)``)."""
        g = self.groups[0]
        shape = tuple(self.env.spec.groups[g].observation.shape)
        ndim = np.ndim(obs[g])
        if ndim == len(shape) + 1:
            return True
        if ndim == len(shape) + 2:
            return False
        raise PhalanxError(f"act: obs[{g!r}] has shape {np.shape(obs[g])}; expected (A, *{shape}) for one env "
                           f"or (E, A, *{shape}) for a batch.")


def load_policy(run_dir: str | Path, member: int | str | None = None, seed: int = 0) -> Policy:
    """The trained policy of a run directory's newest intact checkpoint (see the module docstring).

    Args:
        run_dir: a ``phalanx train``, ``phalanx league`` or ``phalanx psro|selfplay`` run directory.
        member: train runs: the seed index (default 0); league runs: a player's name or index (default the
            first main agent); psro/selfplay runs: a member index of each player's population or a pair of
            them (default -1, the newest).
        seed: seeds the policy's own key stream (used when ``act`` gets no key).

    Raises:
        PhalanxError: not a run directory, no intact checkpoint, or no such member (one line).
    """
    path = Path(run_dir)
    if not (path / "config.yaml").is_file():
        raise PhalanxError(f"load_policy({str(run_dir)!r}): no config.yaml there; give a phalanx train or "
                           "league run directory.")
    import yaml

    values = yaml.safe_load((path / "config.yaml").read_text()) or {}
    if isinstance(values, dict) and "league" in values:
        return _league_policy(path, member, seed)
    if isinstance(values, dict) and "population" in values:
        return _population_policy(path, member, seed)
    return _train_policy(path, 0 if member is None else member, seed)


def _intact_step(path: Path) -> tuple[Any, int]:
    from phalanx.runtime.checkpoint import Checkpoints

    ckpt = Checkpoints(path / "checkpoints")
    step = ckpt.latest_intact()
    if step is None:
        ckpt.close()
        raise PhalanxError(f"load_policy({str(path)!r}): no intact checkpoint yet.")
    return ckpt, step


def _train_policy(path: Path, member: Any, seed: int) -> Policy:
    import phalanx
    from phalanx.algos.registry import get_algorithm
    from phalanx.runtime import run_dir as rd
    from phalanx.runtime.train_run import init_state

    config = rd.load_config(path, rd.TRAIN)
    if not isinstance(member, int) or not 0 <= member < config.num_seeds:
        raise PhalanxError(f"member={member!r}: the run has num_seeds={config.num_seeds}; expected an integer "
                           f"0 <= member < {config.num_seeds}.")
    if config.env.startswith("pettingzoo:"):  # its envs live in processes; acting needs only the spec
        from phalanx.runtime.host_envs import spec_env

        env = spec_env(config.env, config.env_settings)
        learner = get_algorithm(config.algo).make_train(config.train, env)
        # Remote actors' learner (backend=ray) was built on that spec; a host run's saved its host learner's state.
        saved = learner if config.backend == "ray" else _host_learner(config)
    else:
        env = phalanx.make(config.env, **config.env_settings)
        learner = saved = get_algorithm(config.algo).make_train(config.train, env)
    ckpt, step = _intact_step(path)
    try:
        like = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(lambda: init_state(saved, config)))
        state, _ = ckpt.restore(step, like)
    finally:
        ckpt.close()
    if config.num_seeds > 1:
        state = jax.tree.map(lambda x: x[member], state)
    params = {g: learner.policy_params(state, g) for g in env.spec.groups}
    return Policy(env, dict.fromkeys(env.spec.groups, learner), params, step, member, seed)


def _host_learner(config: Any) -> Any:
    """A PettingZoo host run's learner (its ``TrainState`` layout), on in-process envs that are closed again."""
    from phalanx.algos.common.host import host_learner
    from phalanx.algos.registry import get_algorithm
    from phalanx.interop.pettingzoo_in import pettingzoo_factory
    from phalanx.runtime.host_envs import from_pettingzoo

    factory = pettingzoo_factory(config.env, **config.env_settings)
    with from_pettingzoo(factory, config.train.num_envs, num_workers=0) as venv:
        return host_learner(get_algorithm(config.algo).make_train, config.train, venv, config.seed)


def _league_policy(path: Path, member: Any, seed: int) -> Policy:
    from phalanx.runtime import league_run
    from phalanx.runtime import run_dir as rd
    from phalanx.runtime.backend import LocalBackend
    from phalanx.runtime.league_tasks import TaskSpec, programs

    config = rd.load_config(path, league_run.KIND)
    league = league_run.LeagueRun.restore(config, path, LocalBackend())
    if league is None:
        raise PhalanxError(f"load_policy({str(path)!r}): no checkpoint yet.")
    names = list(league.league.names)
    if member is None:
        member = league.league.learners("main")[0]
    if isinstance(member, str):
        if member not in names:
            raise PhalanxError(f"member={member!r}: no such player; the league has {', '.join(names)}.")
        member = names.index(member)
    if not isinstance(member, int) or not 0 <= member < len(names):
        raise PhalanxError(f"member={member!r}: expected a player name or 0 <= index < {len(names)}.")
    progs = programs(TaskSpec.of(config))
    learners = {g: learner for side, learner in zip(progs.sides, progs.learners, strict=True) for g in side}
    params = league.policy(member)
    return Policy(progs.env, learners, params, int(league.progress["tasks_done"]), names[member], seed)


def _population_policy(path: Path, member: Any, seed: int) -> Policy:
    from phalanx.population.metagames import make_metagame
    from phalanx.runtime import population_run
    from phalanx.runtime import run_dir as rd

    config = rd.load_config(path, population_run.KIND)
    metagame = make_metagame(config.game_spec())
    if not metagame.spec.learned:
        raise PhalanxError(f"load_policy({str(path)!r}): an exact-oracle run's members are tables, not a learner's "
                           "policies (see its meta_strategy.json / policy.json); load_policy reads runs with "
                           "population.oracle=learned.")
    ckpt, step = _intact_step(path)
    try:
        state, _ = population_run.restore_checkpoint(ckpt, step, metagame)
    finally:
        ckpt.close()
    sizes = [len(jax.tree.leaves(state.populations[p]["params"])[0]) for p in (0, 1)]
    picks = (-1, -1) if member is None else (member, member) if isinstance(member, int) else tuple(member)
    if len(picks) != 2 or not all(isinstance(k, int) and -n <= k < n for k, n in zip(picks, sizes, strict=False)):
        raise PhalanxError(f"member={member!r}: the populations have {sizes[0]} and {sizes[1]} members; expected "
                           f"an index k (each player's k-th member; negative: from the newest) or a pair (k0, k1).")
    picks = tuple(k % n for k, n in zip(picks, sizes, strict=True))
    params = {g: jax.tree.map(lambda x, k=k: x[k], state.populations[p]["params"])
              for p, (g, k) in enumerate(zip(metagame.players, picks, strict=True))}
    return Policy(metagame.env, dict.fromkeys(metagame.players, metagame.learner), params, step, picks, seed)
