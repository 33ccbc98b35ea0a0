"""SMAX's won flag through the one evaluator: :func:`phalanx.evaluation.play` carries the env's
episode metrics (``TimeStep.info``) as they stood on each episode's last step."""

from __future__ import annotations

import jax
import numpy as np
import pytest

pytest.importorskip("jaxmarl")

import phalanx
from phalanx.evaluation import play, random_actor
from phalanx.interop.smax import battle_state


# Random allies never beat the shooting heuristic enemy, so its case holds the enemy's fire: some wins.
@pytest.mark.parametrize("settings", [{"enemy": "heuristic", "enemy_shoots": False}, {"enemy": "learned"}])
def test_play_reports_the_won_flag_of_each_battles_last_step(settings):
    env = phalanx.make("smax", scenario="3m", **settings)
    actors = {g: random_actor(env, g, 64) for g in env.spec.groups}
    out = jax.jit(lambda a, k: play(env, a, k, record=True))(actors, jax.random.PRNGKey(4))
    won = np.asarray(out.metrics["win_rate"])
    assert won.shape == (64,) and set(np.unique(won)) <= {0.0, 1.0}
    # Each env's state right after its episode's last step: won = every enemy dead, an ally alive.
    alive = np.asarray(battle_state(out.states).unit_alive)  # (T + 1, E, units)
    last = alive[np.asarray(out.length), np.arange(64)]
    expected = last[:, :3].any(-1) & ~last[:, 3:].any(-1)
    np.testing.assert_array_equal(won, expected.astype(np.float32))
    assert np.asarray(out.done).all() and 0 < expected.sum() < 64  # random play wins some battles, not all


def test_play_has_no_metrics_for_envs_without_any():
    env = phalanx.make("matrix_game")
    actors = {g: random_actor(env, g, 4) for g in env.spec.groups}
    assert play(env, actors, jax.random.PRNGKey(0)).metrics == {}


def test_an_allies_policy_plays_the_enemies_of_a_learned_enemy_battle():
    """acting_as: the actor's learner is asked for the group it was trained as, on the group it plays."""
    import jax.numpy as jnp

    from phalanx.evaluation import Actor, acting_as

    def act(params, group, hidden, obs, first, key, *, mask=None, greedy=False):
        return jnp.full(obs.shape[:2], params[group], jnp.int32), hidden

    env = phalanx.make("smax", scenario="3m", enemy="learned")
    params = {"allies": 1, "enemies": 4}  # the allies' params move (action 1), the enemies' stop (4)
    allies = Actor(act, params, jnp.zeros((8, 3, 0)))
    out = play(env, {"allies": random_actor(env, "allies", 8), "enemies": acting_as(allies, "allies")},
               jax.random.PRNGKey(0), steps=3, record=True)
    moved = np.asarray(battle_state(out.states).unit_positions)  # (T + 1, E, units, 2)
    travelled = np.linalg.norm(moved[-1, :, 3:] - moved[0, :, 3:], axis=-1)
    assert (travelled > 0).all()  # every enemy took the allies' action (a move), not its own (stop)
    assert acting_as(allies, "allies").act(params, "enemies", jnp.zeros((8, 3, 0)), jnp.zeros((8, 3, 1)),
                                           None, None)[0].tolist() == [[1] * 3] * 8
