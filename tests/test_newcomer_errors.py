"""The mistakes a newcomer makes, each answered by one clear line that says what to do.

The list, with the fix each message gives, is docs/errors.md. Every case here asserts on
the message's content; command-line cases also assert exit status 2, one ``phalanx: error:``
line on stderr and no traceback.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import phalanx
from phalanx.algos.ppo import PPOConfig, make_train
from phalanx.cli import main
from phalanx.envs import Box, Discrete, Environment, EnvSpec, GroupSpec, full_mask, make_timestep
from phalanx.envs.testing import EnvCheckError, check_env
from phalanx.errors import ConfigError, PhalanxError, did_you_mean

ROOT = Path(__file__).resolve().parents[1]


def cli_error(capsys, *argv: str) -> str:
    """Run ``phalanx ARGV`` in-process; assert exit 2 and one error line, no traceback; return the line."""
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 2, (code, captured.out, captured.err)
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("phalanx: error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


# ------------------------------------------------------------------ a small env with switchable bugs
@struct.dataclass
class ToyState:
    t: jax.Array  # () int32


@struct.dataclass
class ToyParams:
    limit: int = 3


class Toy(Environment):
    """Two agents, one number each; ``bug`` plants one newcomer mistake."""

    name = "toy"

    def __init__(self, bug: str = "none"):
        self.bug = bug

    @property
    def spec(self) -> EnvSpec:
        return EnvSpec({"agents": GroupSpec(2, Box(0.0, 10.0, (1,)), Discrete(2))}, Box(0.0, 10.0, (1,)))

    @property
    def default_params(self) -> ToyParams:
        return ToyParams()

    def _timestep(self, t: jax.Array, done: jax.Array) -> object:
        obs = jnp.full((2, 2 if self.bug == "obs_shape" else 1), t * (100 if self.bug == "obs_range" else 1),
                       jnp.float32)
        if self.bug == "obs_dtype":
            obs = obs.astype(jnp.int32)
        return make_timestep({"agents": obs}, {"agents": full_mask(2, Discrete(2))},
                             {"agents": jnp.zeros(2, jnp.float32)}, {"agents": jnp.full(2, done)}, False,
                             jnp.full((1,), t, jnp.float32))

    def _reset(self, key, params):
        return ToyState(jnp.int32(0)), self._timestep(jnp.int32(0), jnp.bool_(False))

    def _step(self, key, state, actions, params):
        t = state.t + actions["agents"].sum()
        if self.bug == "if":
            if t >= params.limit:  # the mistake: Python `if` on a traced value
                t = jnp.int32(0)
        elif self.bug == "int":
            t = jnp.int32(int(t))  # the mistake: int() of a traced value
        return ToyState(t), self._timestep(t, t >= params.limit)


KEY = jax.random.PRNGKey(0)
ACTIONS = {"agents": jnp.array([1, 0], jnp.int32)}


# ------------------------------------------------------------------ 1. wrong env name
def test_wrong_env_name():
    with pytest.raises(PhalanxError, match=r"unknown environment 'simple_sprad'\. Did you mean 'simple_spread'\?"):
        phalanx.make("simple_sprad")


def test_wrong_env_name_cli(capsys):
    line = cli_error(capsys, "train", "env=tga")
    assert "unknown environment 'tga'. Did you mean 'tag'?" in line and "Registered environments:" in line


def test_wrong_env_setting():
    with pytest.raises(PhalanxError, match=r"tag: unknown setting 'num_runner'\. Did you mean 'num_runners'\?"):
        phalanx.make("tag", num_runner=5)


def test_register_a_taken_name():
    with pytest.raises(PhalanxError, match=r"an environment named 'tag' is already registered "
                                           r"\(phalanx\.envs\.tag\.env\.Tag\); register yours under another name"):
        phalanx.envs.register("tag", Toy)
    assert phalanx.make("tag").__class__.__name__ == "Tag"  # the first registration stands


# ------------------------------------------------------------------ 2. wrong actions in step
def test_actions_not_a_dict():
    env = phalanx.make("tag_grid")
    state, _ = env.reset(KEY)
    with pytest.raises(PhalanxError, match=r"actions must be a dict keyed by group \['taggers', 'runners'\], got an "
                                           r"array of shape \(11,\); pass \{'taggers': \(10,\), 'runners': \(1,\)\}"):
        env.step(KEY, state, jnp.zeros(11, jnp.int32))


def test_action_shape():
    env = phalanx.make("tag_grid", num_taggers=3)
    state, _ = env.reset(KEY)
    bad = {"taggers": jnp.zeros((3, 1), jnp.int32), "runners": jnp.zeros(1, jnp.int32)}
    with pytest.raises(PhalanxError, match=r"actions\['taggers'\] has shape \(3, 1\), expected \(3,\) \(agents first"):
        jax.jit(env.step)(KEY, state, bad)


def test_action_dtype():
    env = phalanx.make("tag_grid", num_taggers=3)
    state, _ = env.reset(KEY)
    bad = {"taggers": jnp.zeros(3, jnp.float32), "runners": jnp.zeros(1, jnp.int32)}
    with pytest.raises(PhalanxError, match=r"has dtype float32, expected an integer dtype .*astype\(jnp\.int32\)"):
        env.step(KEY, state, bad)


# ------------------------------------------------------------------ 3. Python control flow on traced values
@pytest.mark.parametrize("bug", ["if", "int"])
def test_python_control_flow_under_jit(bug: str):
    env = Toy(bug)
    state, _ = env.reset(KEY)
    env.step(KEY, state, ACTIONS)  # eagerly it works: values are concrete
    with pytest.raises(PhalanxError) as info:
        jax.jit(env.step)(KEY, state, ACTIONS)
    msg = str(info.value)
    assert msg.startswith("toy._step at ") and __file__ in msg  # points at the env's own line
    assert ("if t >= params.limit" if bug == "if" else "int(t)") in msg
    assert "jnp.where" in msg and "jax.lax.cond" in msg
    tracer_errors = jax.errors.ConcretizationTypeError | jax.errors.TracerIntegerConversionError
    assert isinstance(info.value.__cause__, tracer_errors)


def test_python_control_flow_caught_by_check_env():
    with pytest.raises(PhalanxError, match=r"toy\._step at .*Python control flow on a traced value.*jnp\.where"):
        check_env(Toy("if"), num_steps=2)


def test_python_control_flow_caught_when_training():
    trainer = make_train(PPOConfig(total_steps=16, num_envs=2, num_steps=8, num_minibatches=1), Toy("if"))
    with pytest.raises(PhalanxError, match=r"toy\._step at .*jax\.lax\.cond"):
        jax.jit(trainer.train)(KEY)  # fails while tracing the rollout, before any compilation


# ------------------------------------------------------------------ 4. spec and returned arrays disagree
def test_obs_shape_differs_from_spec():
    with pytest.raises(PhalanxError) as info:
        Toy("obs_shape").reset(KEY)
    msg = str(info.value)
    assert "toy.reset: timestep.obs['agents'] has shape (2, 2), but the env's spec says (2, 1)" in msg
    assert "make the spec and the returned arrays agree" in msg


def test_obs_dtype_differs_from_spec():
    match = r"obs\['agents'\] has dtype int32, .*spec says float32.*astype\(jnp\.float32\)"
    with pytest.raises(PhalanxError, match=match):
        jax.jit(Toy("obs_dtype").reset)(KEY)


def test_obs_outside_its_box():
    with pytest.raises(EnvCheckError) as info:
        check_env(Toy("obs_range"), num_steps=8)
    # Random actions decide the step at which t first moves; the observation is then 100 · t > 10.
    assert re.fullmatch(r"toy\.step \(step \d+ of check_env\): obs\['agents'\] of agent 0 holds [1-9]\d*00\.0 at "
                        r"index \(0,\), outside Box\(0\.0, 10\.0, \(1,\)\); widen the spec's bounds or clip the "
                        r"observation\.", str(info.value)), str(info.value)
    assert isinstance(info.value, PhalanxError) and isinstance(info.value, AssertionError)


def test_correct_toy_env_passes_check_env():
    # The same env without a planted bug is fine, so the errors above come from the bugs.
    assert check_env(Toy(), num_steps=8) >= 1


# ------------------------------------------------------------------ 5. batch does not divide into minibatches
def test_non_divisible_batch():
    with pytest.raises(ConfigError, match=r"num_envs × num_steps = 30 does not divide into 4 minibatches; "
                                          r"choose a divisor of 30"):
        PPOConfig(num_envs=3, num_steps=10, num_minibatches=4, total_steps=1000).validate()


def test_non_divisible_batch_cli(capsys):
    line = cli_error(capsys, "train", "env=simple_spread", "train.num_envs=3", "train.num_steps=10",
                     "train.num_minibatches=4")
    assert "train.num_minibatches=4" in line and "choose a divisor of 30" in line


# ------------------------------------------------------------------ 6./7. optional extras
def test_missing_pettingzoo_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pettingzoo", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "phalanx.interop.pettingzoo_out", raising=False)
    with pytest.raises(PhalanxError, match=r'PettingZoo interop needs pettingzoo .*pip install -e "\.\[pettingzoo\]"'):
        importlib.import_module("phalanx.interop.pettingzoo_out")


def test_pettingzoo_extra_named_in_the_message_exists():
    # The extra the message names is real and installs both packages it says are missing.
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {re.split(r"[<>=\[]", r)[0] for r in extras["pettingzoo"]} == {"pettingzoo", "gymnasium"}


def test_missing_pettingzoo_extra_cli(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pettingzoo", None)
    monkeypatch.delitem(sys.modules, "phalanx.interop.pettingzoo_in", raising=False)
    line = cli_error(capsys, "config", "train", "env=pettingzoo:mpe2.simple_spread_v3")
    assert 'pip install -e ".[pettingzoo]"' in line


def test_builtin_env_trains_without_pettingzoo(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pettingzoo", None)
    monkeypatch.delitem(sys.modules, "phalanx.interop.pettingzoo_in", raising=False)
    assert main(["config", "train", "env=simple_spread"]) == 0


# ------------------------------------------------------------------ 8. key=value syntax on the command line
@pytest.mark.parametrize(("argv", "fix"), [
    (["train", "env", "simple_spread"], "write env=simple_spread"),
    (["train", "env=simple_spread", "--seed", "3"], "not --flags; write seed=3"),
    (["train", "--seed=3"], "not --flags; write seed=3"),
    (["train", "seed=[1"], "could not parse 'seed=[1'"),
    (["train", "train.lr=fast"], "train.lr='fast': expected a number"),
    (["train", "train.learning_rate=0.1"], "unknown key 'train.learning_rate'"),
    (["train", "sed=1"], "unknown key 'sed'. Did you mean 'seed'?"),
])
def test_cli_syntax(capsys, argv: list[str], fix: str):
    assert fix in cli_error(capsys, *argv)


def test_unknown_game_prefix(capsys):
    # difflib alone scores "kuhn" against "kuhn_poker" below its cutoff; the first word of one game counts.
    assert "env='kuhn': unknown env. Did you mean 'kuhn_poker'?" in cli_error(capsys, "psro", "env=kuhn")
    assert "Did you mean 'leduc_poker'?" in cli_error(capsys, "selfplay", "env=leduc")


def test_did_you_mean_prefix_must_be_unique():
    assert did_you_mean("kuhn", ["kuhn_poker", "leduc_poker"]) == " Did you mean 'kuhn_poker'?"
    assert did_you_mean("kuh", ["kuhn_poker", "leduc_poker"]) == ""  # not a whole first word
    assert did_you_mean("big", ["big_a_long_name", "big_b_other_one"]) == ""  # two choices start with it


def test_unknown_command(capsys):
    assert "unknown command 'trian'. Did you mean 'train'?" in cli_error(capsys, "trian", "env=tag")


# ------------------------------------------------------------------ 9. resume / run_dir that is not a run
def test_resume_missing_dir(capsys, tmp_path):
    line = cli_error(capsys, "train", f"resume={tmp_path / 'nope'}")
    assert f"resume={tmp_path / 'nope'}: no such directory" in line
    assert "give the run directory phalanx train printed, e.g. runs/<env>-<algo>-<time>" in line


@pytest.mark.parametrize(("command", "example"), [
    ("psro", "runs/<game>-<psro|selfplay>-<time>"),
    ("selfplay", "runs/<game>-<psro|selfplay>-<time>"),
    ("league", "runs/<env>-league-<time>"),
])
def test_population_resume_missing_dir(capsys, tmp_path, command: str, example: str):
    line = cli_error(capsys, command, f"resume={tmp_path / 'nope'}")
    assert f"resume={tmp_path / 'nope'}: no such directory" in line and f"e.g. {example}" in line


def test_eval_missing_dir(capsys, tmp_path):
    line = cli_error(capsys, "eval", f"run_dir={tmp_path / 'nope'}")
    assert "no such directory; give the run directory phalanx train printed" in line


def test_resume_not_a_run_dir(capsys, tmp_path):
    line = cli_error(capsys, "train", f"resume={tmp_path}")
    assert "no config.yaml there" in line and "run directory" in line


def test_eval_not_a_run_dir(capsys, tmp_path):
    assert "no config.yaml there" in cli_error(capsys, "eval", f"run_dir={tmp_path}")


# ------------------------------------------------------------------ the real console entry point
def test_exit_status_and_no_traceback_from_the_shell():
    proc = subprocess.run([sys.executable, "-m", "phalanx", "bench", "env=tga"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("phalanx: error: unknown environment 'tga'") and "Traceback" not in proc.stderr


def test_message_is_one_line_for_planted_bug():
    with pytest.raises(PhalanxError) as info:
        jax.jit(Toy("if").step)(KEY, Toy().reset(KEY)[0], ACTIONS)
    assert "\n" not in str(info.value)
    np.testing.assert_equal(len(str(info.value).splitlines()), 1)


# ------------------------------------------------------------------ Ray: the extra missing, an unreachable cluster
def test_missing_ray_extra(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if `pip install -e ".[ray]"` had not been run
    line = cli_error(capsys, "psro", "env=kuhn_poker", "population.iterations=1", "backend=ray",
                     f"run_dir={tmp_path / 'r'}")
    assert 'backend=ray needs Ray, which is not installed: pip install -e ".[ray]"' in line
    assert "or use backend=local" in line


def test_unreachable_ray_address(tmp_path):
    # A fresh process: a Ray another test left running would otherwise be joined instead.
    proc = subprocess.run([sys.executable, "-m", "phalanx", "psro", "env=kuhn_poker", "population.iterations=1",
                           "backend=ray", "ray.address=127.0.0.1:1", f"run_dir={tmp_path / 'r'}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.startswith("phalanx: error: ray.address=127.0.0.1:1: no Ray cluster reachable there")
    assert "ray start --head" in proc.stderr
    assert not (tmp_path / "r").exists()  # nothing written for a run that could not start
