"""SMAX (JaxMARL's StarCraft-style battles) as a Phalanx env: ``make("smax", scenario="3m")``.

The JaxMARL adapter (:class:`~phalanx.interop.jaxmarl.JaxMARLEnv`) over JaxMARL's own SMAX, so
the physics, observations and rewards are JaxMARL's, step for step, and the rollout still compiles
with the learner. What this adds:

* **Maps by name**: every map of JaxMARL's ``map_name_to_scenario`` and the user's
  (:func:`~phalanx.interop.smax.scenarios.register_scenario`); an unknown name lists the valid ones.
* **Enemy**: ``enemy="heuristic"`` (default) is JaxMARL's ``HeuristicEnemySMAX`` with the settings
  Mava and JaxMARL's ``*_rnn_smax`` baselines run (``see_enemy_actions``, ``walls_cause_death``,
  ``attack_mode="closest"``): one group, ``allies``. ``enemy="learned"`` is JaxMARL's plain ``SMAX``
  with its zero-sum self-play reward (+1 to the winners, -1 to the losers, 0 for a draw or a time
  out): two groups, ``allies`` and ``enemies``, for ``selfplay`` / ``psro`` / ``league``.
* **The battle's end ends the episode for every unit** (a team wiped out), and only the step
  counter reaching ``max_steps`` with both teams standing is a truncation.
* **Won flag**: ``ts.info["win_rate"]`` is 1.0 on the step the allies win (every enemy dead, an
  ally alive: the condition of JaxMARL's won-battle bonus), else 0; the episode statistics read it
  on an episode's last step, so learners log the allies' ``win_rate``.
* **A viewer** (:mod:`phalanx.interop.smax.viewer`): units by team and type, health, attacks.
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp

from phalanx.envs.types import TimeStep
from phalanx.errors import PhalanxError
from phalanx.interop.jaxmarl import JaxMARLEnv, JaxMARLState, _jaxmarl
from phalanx.interop.smax.scenarios import get_scenario

ENEMIES = ("heuristic", "learned")


def battle_state(state: Any) -> Any:
    """JaxMARL's SMAX ``State`` (unit positions, health, ...) inside any wrapping of it."""
    while not hasattr(state, "unit_positions"):
        state = state.env_state if hasattr(state, "env_state") else state.state
    return state


class SMAX(JaxMARLEnv):
    """A SMAX battle on one map; see the module docstring.

    Args:
        scenario: the map's name (``"3m"``, ``"2s3z"``, ``"smacv2_10_units"``, or a registered one).
        enemy: ``"heuristic"`` (JaxMARL's scripted enemy; the allies are the only group) or
            ``"learned"`` (the enemies are a second group; zero-sum self-play reward).
        max_steps: the time limit in agent steps (each is 8 world ticks, 0.5 s of game time).
        attack_mode: the heuristic enemy's target choice, ``"closest"`` or ``"random"``.
        enemy_shoots: whether the heuristic enemy attacks at all.
        see_enemy_actions: whether observations show the other team's last moves and attacks.
        walls_cause_death: whether a unit touching the map's edge dies.
        won_battle_bonus: the reward for winning (JaxMARL's default, 1.0).
        observation_type: ``"unit_list"`` (JaxMARL's default) or ``"conic"``.
    """

    def __init__(
        self,
        scenario: str = "3m",
        enemy: Literal["heuristic", "learned"] = "heuristic",
        max_steps: int = 100,
        attack_mode: Literal["closest", "random"] = "closest",
        enemy_shoots: bool = True,
        see_enemy_actions: bool = True,
        walls_cause_death: bool = True,
        won_battle_bonus: float = 1.0,
        observation_type: Literal["unit_list", "conic"] = "unit_list",
    ):
        _jaxmarl()  # a missing JaxMARL is one line saying how to install it (and its import prints nothing)
        from jaxmarl.environments import smax as jaxmarl_smax

        if enemy not in ENEMIES:
            raise PhalanxError(f"smax: enemy={enemy!r}; choose one of {', '.join(ENEMIES)}.")
        if attack_mode not in ("closest", "random"):
            raise PhalanxError(f"smax: attack_mode={attack_mode!r}; choose closest or random.")
        if observation_type not in ("unit_list", "conic"):
            raise PhalanxError(f"smax: observation_type={observation_type!r}; choose unit_list or conic.")
        settings = dict(scenario=get_scenario(scenario), max_steps=max_steps, see_enemy_actions=see_enemy_actions,
                        walls_cause_death=walls_cause_death, won_battle_bonus=won_battle_bonus,
                        observation_type=observation_type)
        if enemy == "heuristic":
            env = jaxmarl_smax.HeuristicEnemySMAX(enemy_shoots=enemy_shoots, attack_mode=attack_mode, **settings)
        else:
            env = jaxmarl_smax.SMAX(use_self_play_reward=True, **settings)
        super().__init__(env, "SMAX")
        self.name = "smax"
        self.scenario, self.enemy = scenario, enemy
        self.num_allies, self.num_enemies = int(env.num_allies), int(env.num_enemies)

    def _reset(self, key: jax.Array, params: None) -> tuple[JaxMARLState, TimeStep]:
        state, ts = super()._reset(key, params)
        return state, ts.replace(info={"win_rate": jnp.float32(0.0)})

    def _step(self, key: jax.Array, state: JaxMARLState, actions: dict[str, jax.Array],
              params: None) -> tuple[JaxMARLState, TimeStep]:
        per_agent = {a: actions[g][i] for g, names in self.agent_names.items() for i, a in enumerate(names)}
        obs, env_state, rewards, dones, _ = self.env.step_env(key, state.env_state, per_agent)
        battle = battle_state(env_state)
        allies_alive = battle.unit_alive[: self.num_allies].any()
        enemies_alive = battle.unit_alive[self.num_allies:].any()
        over = ~allies_alive | ~enemies_alive  # the battle is decided (or drawn): everyone's episode ends
        won = allies_alive & ~enemies_alive
        terminated = {g: state.terminated[g] | self._stack(dones, g).astype(jnp.bool_) | over
                      for g in self.agent_names}
        truncated = (battle.step >= self.env.max_steps) & ~over
        reward = {g: self._stack(rewards, g).astype(jnp.float32) for g in self.agent_names}
        # The same dtypes as the state taken in (JaxMARL mixes weak and strong ones), so jit traces once.
        env_state = jax.tree.map(lambda x, old: jnp.asarray(x, old.dtype), env_state, state.env_state)
        ts = self._timestep(obs, env_state, reward, terminated, truncated)
        return JaxMARLState(env_state, terminated), ts.replace(info={"win_rate": won.astype(jnp.float32)})

    def draw_frame(self, fig: Any, state: Any) -> None:
        """Draw the battle: units by team (colour) and type (marker), health bars and attack lines."""
        from phalanx.interop.smax.viewer import draw_smax

        draw_smax(fig, self.env, battle_state(state), self.scenario)

    def __repr__(self) -> str:
        return f"SMAX({self.scenario!r}, enemy={self.enemy!r}, {self.groups})"
