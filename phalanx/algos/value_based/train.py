"""IQL, VDN and QMIX compiled end to end (the Anakin shape, with a replay buffer in the state).

One :meth:`Trainer.update` is a pure function: a ``lax.scan`` of ``num_steps`` ε-greedy steps
of ``vmap``-ped envs appended to the replay buffer, then ``gradient_steps`` gradient steps on
sampled windows (once ``learning_starts`` env steps are stored), each followed by the target
network's update when due. Parameters, target parameters, optimiser, buffer, envs, RNG key and
counters all live in :class:`TrainState`, so the runtime's chunks, seeds-as-``vmap`` and
bit-exact resume apply unchanged.

**Targets.** A stored step keeps the observation it reached (``final_obs``: the pre-reset one on
an episode's last step), so a time-limit cut bootstraps from the state the episode really
reached while a terminal state does not bootstrap; n-step returns stop at either. The next
state's legal actions are those of the following step inside an episode; on an episode's last
step the env has already reset (``TimeStep`` keeps no final mask), so all actions count as legal
there — this only matters after truncation, the one case that bootstraps from such a state.
Rewards are standardised by default with running statistics kept in the state (EPyMARL's
``standardise_rewards``; see :class:`QLearningConfig`).

**Mixing.** IQL learns each agent's Q on its own reward and termination. VDN/QMIX learn
``Q_tot`` of a set of agents on the set's team reward (``team_reward``: mean or sum of its
agents' rewards), which terminates when all its agents have; agents already out of the game
contribute ``Q_i = 0``. ``mixing="group"`` mixes each group's agents (one mixer per group; groups
stay independent, as in competitive envs); ``mixing="all"`` mixes every agent of every group
(for cooperative envs whose groups share a reward, e.g. ``simple_speaker_listener``).

**Fixed opponents.** With ``make_train(config, env, learners=(group, ...))`` only those groups
have Q-networks, buffer entries and losses; the others play the population given to ``init``
(:class:`~phalanx.algos.common.opponents.Opponents`), each env drawing a member per episode, which
acts greedily through :meth:`Trainer.act` (ε = 0).

**Recurrent variants** (``recurrent_size > 0``) sample windows of ``burn_in + seq_len (+ n_step
− 1)`` consecutive steps of one env. The GRU starts from the state stored when the window's
first step was acted on (R2D2's "stored state"), is zeroed at episode starts inside the window,
reads the ``burn_in`` steps without gradient, and is trained on the next ``seq_len``; a window
may span episode boundaries (each step carries its own flags and next observation).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from phalanx.algos.common import protocol
from phalanx.algos.common.episodes import EpisodeSums, active_agents, base_metrics, episode_starts
from phalanx.algos.common.inputs import agent_inputs, flatten_obs, with_agent_id
from phalanx.algos.common.normalize import RunningStats
from phalanx.algos.common.opponents import Opponents, check_learners, check_opponents, draw_members, opponent_actions
from phalanx.algos.common.targets import polyak
from phalanx.algos.replay import ReplayBuffer
from phalanx.algos.value_based.config import ALGO_OF_MIXER, QLearningConfig
from phalanx.algos.value_based.networks import QMixer, QNetwork, fan_in_uniform_init, vdn_mix
from phalanx.algos.value_based.targets import bootstrap_values, epsilon_greedy, linear_epsilon, n_step_targets
from phalanx.algos.value_based.types import Step, TrainState, UpdateMetrics
from phalanx.envs.environment import Environment
from phalanx.envs.spaces import Box, Discrete
from phalanx.envs.types import TimeStep
from phalanx.envs.wrappers import VecEnv, wrap_for_training
from phalanx.errors import ConfigError

__all__ = ["Step", "TrainState", "Trainer", "UpdateMetrics", "make_train"]


@dataclasses.dataclass(frozen=True)
class Trainer:
    """The compiled pieces of an IQL/VDN/QMIX run (all pure functions of their inputs)."""

    config: QLearningConfig
    env: VecEnv
    networks: dict[str, QNetwork]  # per group (shared by its agents)
    mix_sets: dict[str, tuple[str, ...]]  # mixer name -> the groups it joins (empty for IQL)
    optimizer: optax.GradientTransformation
    buffer: ReplayBuffer
    learners: tuple[str, ...]  # groups trained; the others play fixed opponents (greedily)

    @property
    def num_updates(self) -> int:
        """Updates in the whole run: ``max(1, total_steps // (num_envs * num_steps))``."""
        return self.config.num_updates

    @property
    def groups(self) -> dict:
        """The env's agent groups, ``{group: GroupSpec}``."""
        return self.env.spec.groups

    # ------------------------------------------------------------------ setup
    def _mixer(self, name: str) -> QMixer:
        agents = sum(self.groups[g].num_agents for g in self.mix_sets[name])
        return QMixer(agents, self.config.mixer_embed, self.config.hypernet_embed)

    def _in_dim(self, group: str) -> int:
        spec = self.groups[group]
        return int(np.prod(spec.observation.shape)) + (spec.num_agents if self.config.agent_id else 0)

    def init_params(self, key: jax.Array) -> dict:
        """``{"agents": {group: params}, "mixers": {set: params}}`` (no mixer params for IQL/VDN),
        every layer ``U(±1/√fan_in)`` as PyTorch's (EPyMARL's) default (:func:`fan_in_uniform_init`)."""
        agents, mixers = {}, {}
        for name in self.learners:
            spec = self.groups[name]
            x = jnp.zeros((1, 1, spec.num_agents, self._in_dim(name)))
            h = jnp.zeros((1, spec.num_agents, self.config.recurrent_size))
            resets = jnp.zeros((1, 1, spec.num_agents), bool)
            init = functools.partial(self.networks[name].init, method=QNetwork.with_next)
            agents[name] = jax.eval_shape(init, key, h, x, x, resets)  # the structure only: nothing runs
        if self.config.mixer == "qmix":
            state_dim = self.env.spec.global_state.shape[0]
            for name in self.mix_sets:
                mixer = self._mixer(name)
                mixers[name] = jax.eval_shape(mixer.init, key, jnp.zeros((1, mixer.num_agents)),
                                              jnp.zeros((1, state_dim)))
        return fan_in_uniform_init(key, {"agents": agents, "mixers": mixers})

    def _example_step(self, ts: TimeStep) -> Step:
        """A zero :class:`Step` with the shapes of the batched timestep ``ts`` (to size the buffer)."""
        e = self.config.num_envs
        obs = self._flat(ts.obs)
        learn = self.learners
        zeros = lambda x, dtype=None: jnp.zeros(x.shape, dtype or x.dtype)  # noqa: E731
        states = ts.global_state if self.config.mixer == "qmix" else jnp.zeros((e, 0))
        return Step(
            obs=jax.tree.map(zeros, obs), action={g: zeros(ts.reward[g], jnp.int32) for g in learn},
            reward={g: zeros(ts.reward[g]) for g in learn}, terminated={g: zeros(ts.terminated[g]) for g in learn},
            active={g: zeros(ts.terminated[g]) for g in learn}, next_obs=jax.tree.map(zeros, obs),
            next_mask={g: zeros(ts.action_mask[g]) for g in learn}, episode_end=jnp.zeros(e, bool),
            resets=jnp.zeros(e, bool), hidden={g: h for g, h in self.initial_hidden(e).items() if g in learn},
            state=zeros(states),
            next_state=zeros(states),
        )

    def init(self, key: jax.Array, opponents: Opponents | None = None) -> TrainState:
        """Parameters (target = online), optimiser, an empty buffer and envs at the start of a run.

        ``opponents``: the population of the groups that do not learn (members' :meth:`policy_params`
        stacked ``(K, ...)``); they act greedily.
        """
        opponents, opponent_index = check_opponents(tuple(self.groups), self.learners, opponents,
                                                    self.config.num_envs)
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = self.init_params(k_params)
        env_state, ts = self.env.reset(k_env)
        return TrainState(
            params=params, target_params=params, opt_state=self.optimizer.init(params),
            buffer=self.buffer.init(self._example_step(ts)), env_state=env_state, timestep=ts,
            hidden=self.initial_hidden(self.config.num_envs),
            reward_stats={n: RunningStats.create(()) for n in self._streams()} if self.config.standardize_rewards
            else None, key=k_run, update_step=jnp.int32(0), grad_steps=jnp.int32(0), env_steps=jnp.int32(0),
            opponents=opponents, opponent_index=opponent_index)

    def initial_hidden(self, batch: int) -> dict[str, jax.Array]:
        """Zero GRU state ``{group: (batch, A, H)}`` (H = 0 feed-forward)."""
        return {n: jnp.zeros((batch, g.num_agents, self.config.recurrent_size)) for n, g in self.groups.items()}

    def _streams(self) -> tuple[str, ...]:
        """The learned Q-targets, one per group (IQL) or one per mixer (VDN/QMIX)."""
        return self.learners if self.config.mixer == "none" else tuple(self.mix_sets)

    def _rewards(self, reward: dict) -> dict:
        """The reward of each stream: ``{group: (..., A)}`` (IQL) or ``{mixer: (...)}`` team rewards."""
        if self.config.mixer == "none":
            return dict(reward)
        out = {}
        for name, groups in self.mix_sets.items():
            joined = jnp.concatenate([reward[g] for g in groups], axis=-1)
            out[name] = joined.mean(-1) if self.config.team_reward == "mean" else joined.sum(-1)
        return out

    # ------------------------------------------------------------------ inputs and acting
    def _flat(self, obs: dict) -> dict:
        """The learning groups' flat observations: ``{group: (..., A, *obs_shape)} -> {group: (..., A, d)}``."""
        return {g: flatten_obs(obs[g], len(self.groups[g].observation.shape)) for g in self.learners}

    def _with_ids(self, obs: dict) -> dict:
        """Append each agent's one-hot index within its group when ``agent_id``: ``(..., A, d + A)``."""
        return {g: with_agent_id(x) for g, x in obs.items()} if self.config.agent_id else obs

    def policy_params(self, state: TrainState, group: str) -> dict:
        """Group ``group``'s Q-network parameters (a fixed group: opponent member 0)."""
        if group not in self.learners:
            return jax.tree.map(lambda p: p[0], state.opponents.params[group])
        return state.params["agents"][group]

    def act(self, params: dict, group: str, hidden: jax.Array, obs: jax.Array, first: jax.Array, key: jax.Array,
            *, mask: jax.Array | None = None, greedy: bool = False,
            epsilon: jax.Array | float | None = None) -> tuple[jax.Array, jax.Array]:
        """One step of ``group`` in ``E`` envs: ε-greedy actions ``(E, A)`` and the new GRU state.

        ``epsilon`` defaults to ``eval_epsilon``; ``greedy`` means ε = 0. ``mask`` ``(E, A, n)``: legal actions.
        """
        spec = self.groups[group]
        x = agent_inputs(obs, len(spec.observation.shape), None, self.config.agent_id)
        resets = jnp.broadcast_to(first[:, None], x.shape[:-1])
        hidden, q = self.networks[group].apply(params, hidden, x[None], resets[None])
        mask = jnp.ones(q.shape[1:], bool) if mask is None else mask
        eps = 0.0 if greedy else (self.config.eval_epsilon if epsilon is None else epsilon)
        return epsilon_greedy(key, q[0], mask, eps), hidden

    def _act(self, state: TrainState, key: jax.Array, ts: TimeStep, resets: jax.Array,
             epsilon: jax.Array) -> tuple[dict, dict, jax.Array | None]:
        """Every group's actions ``{group: (E, A)}``, new GRU states and opponent members: the learners
        ε-greedy, the fixed groups greedily with the member each env drew at its episode start."""
        k_opp, key = jax.random.split(key) if state.opponents is not None else (None, key)
        keys = dict(zip(self.groups, jax.random.split(key, len(self.groups)), strict=True))
        index = state.opponent_index
        if index is not None:
            index = draw_members(k_opp, state.opponents, index, resets)
        actions, hidden = {}, {}
        for name in self.groups:
            args = (name, state.hidden[name], ts.obs[name], resets, keys[name])
            if name in self.learners:
                actions[name], hidden[name] = self.act(state.params["agents"][name], *args,
                                                       mask=ts.action_mask[name], epsilon=epsilon)
            else:
                actions[name], hidden[name] = opponent_actions(self.act, state.opponents, index, *args,
                                                               mask=ts.action_mask[name], greedy=True)
        return actions, hidden, index

    # ------------------------------------------------------------------ rollout
    def _env_step(self, state: TrainState, key: jax.Array) -> tuple[TrainState, tuple[Step, EpisodeSums]]:
        c, learn = self.config, self.learners
        k_act, k_env = jax.random.split(key)
        ts = state.timestep
        resets = episode_starts(ts, state.env_steps)
        epsilon = linear_epsilon(state.env_steps, c.eps_start, c.eps_finish, c.eps_decay_steps)
        actions, hidden, index = self._act(state, k_act, ts, resets, epsilon)
        env_state, nts = self.env.step(k_env, state.env_state, actions)
        end = nts.done
        qmix = c.mixer == "qmix"
        step = Step(
            obs=self._flat(ts.obs), action={g: actions[g] for g in learn}, reward={g: nts.reward[g] for g in learn},
            terminated={g: nts.terminated[g] for g in learn},
            active={g: active_agents(ts.terminated[g], resets) for g in learn},
            next_obs=self._flat(nts.final_obs),
            next_mask={g: nts.action_mask[g] | end[:, None, None] for g in learn},
            episode_end=end, resets=resets, hidden={g: state.hidden[g] for g in learn},
            state=ts.global_state if qmix else jnp.zeros((c.num_envs, 0)),
            next_state=nts.final_global_state if qmix else jnp.zeros((c.num_envs, 0)),
        )
        new_state = state.replace(env_state=env_state, timestep=nts, hidden=hidden,
                                  env_steps=state.env_steps + c.num_envs, opponent_index=index)
        return new_state, (step, EpisodeSums.of(nts))

    # ------------------------------------------------------------------ learning
    def _loss(self, params: dict, target_params: dict, batch: Step,
              reward_stats: dict | None = None) -> tuple[jax.Array, dict]:
        """TD loss summed over groups (IQL) or mixers, on windows of leaves ``(W, B, ...)``; rewards
        standardised with ``reward_stats`` (``{stream: RunningStats}``) when given."""
        c = self.config
        burn = c.burn_in if c.recurrent_size else 0
        inputs, next_inputs = self._with_ids(batch.obs), self._with_ids(batch.next_obs)
        tail = jax.tree.map(lambda x: x[burn:], batch)  # the steps after burn-in
        q_taken, boot = {}, {}
        for name in self.learners:
            net = self.networks[name]
            resets = jnp.broadcast_to(batch.resets[..., None], batch.action[name].shape)
            start = batch.hidden[name][0]
            # One pass over the whole window; the burn-in only warms the GRU state up: the state
            # leaving it carries no gradient and its outputs are dropped.
            cut = (jnp.arange(resets.shape[0]) == burn)[:, None, None]
            q, q_next = net.apply(params["agents"][name], start, inputs[name], next_inputs[name], resets, cut,
                                  method=QNetwork.with_next)
            _, tq_next = net.apply(target_params["agents"][name], start, inputs[name], next_inputs[name], resets,
                                   method=QNetwork.with_next)
            q, q_next, tq_next = q[burn:], q_next[burn:], tq_next[burn:]
            q_taken[name] = jnp.take_along_axis(q, tail.action[name][..., None], -1)[..., 0]
            boot[name] = bootstrap_values(jax.lax.stop_gradient(q_next), tq_next, tail.next_mask[name], c.double_q)

        def td_loss(q, target, mask):  # -> (mean squared TD error, mean target) over the masked entries
            mask = mask.astype(jnp.float32)
            count = jnp.maximum(jnp.sum(mask), 1.0)
            target = jax.lax.stop_gradient(target)
            return jnp.sum(mask * (q[: target.shape[0]] - target) ** 2) / count, jnp.sum(mask * target) / count

        seq = tail.episode_end.shape[0] - c.n_step + 1
        end = tail.episode_end
        rewards = self._rewards(tail.reward)
        if reward_stats is not None:
            rewards = {n: (r - reward_stats[n].mean) / jnp.sqrt(reward_stats[n].var + 1e-8) for n, r in rewards.items()}
        losses, targets, total = {}, {}, 0.0
        if c.mixer == "none":
            for name in self.learners:
                term = tail.terminated[name]
                y = n_step_targets(rewards[name], term, end[..., None] | term, boot[name], c.gamma, c.n_step)
                losses[name], targets[name] = td_loss(q_taken[name], y, tail.active[name][:seq])
                total = total + losses[name]
        else:
            for mix_name, names in self.mix_sets.items():
                join = lambda xs: jnp.concatenate(xs, axis=-1)  # noqa: E731
                qs = join([jnp.where(tail.active[g], q_taken[g], 0.0) for g in names])  # (T, B, N)
                next_qs = join([jnp.where(tail.terminated[g], 0.0, boot[g]) for g in names])
                term = join([tail.terminated[g] for g in names]).all(-1)
                active = join([tail.active[g] for g in names]).any(-1)
                if c.mixer == "qmix":
                    mixer = self._mixer(mix_name)
                    q_tot = mixer.apply(params["mixers"][mix_name], qs, tail.state)
                    next_tot = mixer.apply(target_params["mixers"][mix_name], next_qs, tail.next_state)
                else:
                    q_tot, next_tot = vdn_mix(qs), vdn_mix(next_qs)
                y = n_step_targets(rewards[mix_name], term, end | term, next_tot, c.gamma, c.n_step)
                loss, target = td_loss(q_tot, y, active[:seq])
                losses.update({g: loss for g in names})
                targets.update({g: target for g in names})
                total = total + loss
        q_mean = {g: jnp.sum(jnp.where(tail.active[g], q_taken[g], 0.0)) / jnp.maximum(tail.active[g].sum(), 1)
                  for g in self.learners}
        return total, {"loss": losses, "q_taken": q_mean, "target": targets}

    def _gradient_step(self, state: TrainState, key: jax.Array) -> tuple[TrainState, dict]:
        c = self.config
        batch = self.buffer.sample(state.buffer, key, c.batch_size, c.window)
        grads, info = jax.grad(self._loss, has_aux=True)(state.params, state.target_params, batch, state.reward_stats)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        grad_steps = state.grad_steps + 1
        due = grad_steps % c.target_update_every == 0
        moved = params if c.tau == 1.0 else polyak(state.target_params, params, c.tau)  # copy or Polyak step
        target = jax.tree.map(lambda t, m: jnp.where(due, m, t), state.target_params, moved)
        return state.replace(params=params, target_params=target, opt_state=opt_state, grad_steps=grad_steps), info

    def _learn(self, state: TrainState, key: jax.Array) -> tuple[TrainState, dict]:
        """``gradient_steps`` gradient steps; metrics are their means."""
        state, info = jax.lax.scan(self._gradient_step, state, jax.random.split(key, self.config.gradient_steps))
        return state, jax.tree.map(jnp.mean, info)

    def _min_slots(self) -> int:
        """Stored steps per env before learning: one window, and ``learning_starts`` env steps."""
        c = self.config
        return max(c.window, -(-c.learning_starts // c.num_envs))

    def update(self, state: TrainState) -> tuple[TrainState, UpdateMetrics]:
        """One update: ``num_steps`` ε-greedy env steps into the buffer, then ``gradient_steps`` gradient steps."""
        c = self.config
        key, k_roll, k_learn = jax.random.split(state.key, 3)
        epsilon = linear_epsilon(state.env_steps, c.eps_start, c.eps_finish, c.eps_decay_steps)
        state, (steps, sums) = jax.lax.scan(self._env_step, state, jax.random.split(k_roll, c.num_steps))
        return self.learn(state.replace(key=key), steps, sums.total(), epsilon, k_learn)

    def learn(self, state: TrainState, steps: Step, sums: EpisodeSums, epsilon: jax.Array,
              key: jax.Array) -> tuple[TrainState, UpdateMetrics]:
        """A rollout's ``steps`` (``(T, E, ...)``, here or from remote actors) into the buffer, then the gradient
        steps; ``sums`` its episode totals, ``epsilon`` its exploration rate (both reported)."""
        state = state.replace(buffer=self.buffer.add(state.buffer, steps))
        if state.reward_stats is not None:  # statistics of every reward collected so far
            rewards = self._rewards(steps.reward)
            state = state.replace(reward_stats={n: st.update(rewards[n].reshape(-1)) for n, st in
                                                state.reward_stats.items()})
        ready = self.buffer.can_sample(state.buffer, self._min_slots())
        zero = {g: jnp.float32(0.0) for g in self.learners}
        skipped = {"loss": zero, "q_taken": zero, "target": zero}
        state, info = jax.lax.cond(ready, self._learn, lambda s, _: (s, skipped), state, key)
        metrics = UpdateMetrics(
            **base_metrics(state.env_steps, sums),
            loss=info["loss"], q_taken=info["q_taken"], target=info["target"], epsilon=epsilon,
            learning=ready.astype(jnp.float32),
        )
        return state.replace(update_step=state.update_step + 1), metrics

    def train(self, key: jax.Array) -> tuple[TrainState, UpdateMetrics]:
        """A whole run as one function of one key: ``vmap`` it over keys for several seeds."""
        return protocol.train(self, key)


def make_train(config: QLearningConfig, env: Environment, learners: tuple[str, ...] | None = None) -> Trainer:
    """Build the :class:`Trainer` for ``env`` (a plain env; wrapping is done here).

    ``learners`` names the groups that learn (default: all); the others play the fixed opponents
    given to :meth:`Trainer.init`.

    Raises:
        ConfigError: invalid settings, or a group without ``Discrete`` actions.
    """
    config.validate()
    algo = ALGO_OF_MIXER[config.mixer]
    for name, spec in env.spec.groups.items():
        if not isinstance(spec.action, Discrete):
            raise ConfigError(
                f"algo={algo}: group {name!r} of {env.name} has {spec.action} actions, but value-based learners "
                "(iql/vdn/qmix) need Discrete ones; use algo=ippo or mappo"
                + (" (or maddpg/isac/masac)." if isinstance(spec.action, Box) else ".")
            )
    groups = learners = check_learners(tuple(env.spec.groups), learners)
    if config.mixer == "none":
        mix_sets: dict[str, tuple[str, ...]] = {}
    elif config.mixing == "all":
        mix_sets = {"all": groups}
    else:
        mix_sets = {g: (g,) for g in groups}
    networks = {
        name: QNetwork(spec.action.n, config.hidden, config.activation, config.recurrent_size)
        for name, spec in env.spec.groups.items()
    }
    # One flat parameter vector for the optimiser: a few large operations instead of some per leaf.
    optimizer = optax.flatten(optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr)))
    return Trainer(config, wrap_for_training(env, config.num_envs), networks, mix_sets, optimizer,
                   ReplayBuffer(config.capacity), learners)
