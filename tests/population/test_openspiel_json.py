"""Tabular policies as OpenSpiel-keyed JSON: round trips, OpenSpiel interop, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from phalanx.envs.poker import game_tree
from phalanx.errors import PhalanxError
from phalanx.population import exact
from phalanx.population.openspiel_json import export_policy, import_policy, policy_from_dict

pyspiel = pytest.importorskip("pyspiel")
from open_spiel.python import policy as os_policy  # noqa: E402
from open_spiel.python.algorithms import exploitability as os_exploitability  # noqa: E402


def _random_tables(tree, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for p in (0, 1):
        t = rng.random(tree.players[p].legal.shape) * tree.players[p].legal
        out.append((t / t.sum(1, keepdims=True)).astype(np.float32))
    return out[0], out[1]


@pytest.mark.parametrize("name", ["kuhn_poker", "leduc_poker"])
def test_round_trip(tmp_path, name):
    tree = game_tree(name)
    pi0, pi1 = _random_tables(tree, 0)
    path = tmp_path / "policy.json"
    export_policy(tree, pi0, pi1, path)
    back0, back1 = import_policy(tree, path)
    np.testing.assert_allclose(back0, pi0, rtol=1e-6)
    np.testing.assert_allclose(back1, pi1, rtol=1e-6)
    data = json.loads(path.read_text())
    assert len(data) == tree.num_infostates(0) + tree.num_infostates(1)


def test_kuhn_file_is_keyed_by_openspiel_strings(tmp_path):
    tree = game_tree("kuhn_poker")
    pi0, pi1 = exact.uniform_policy(tree, 0), exact.uniform_policy(tree, 1)
    pi0 = np.asarray(pi0).copy()
    pi0[tree.players[0].index["0pb"]] = [0.25, 0.75]
    export_policy(tree, pi0, pi1, tmp_path / "k.json")
    data = json.loads((tmp_path / "k.json").read_text())
    assert set(data) == {"0", "1", "2", "0pb", "1pb", "2pb", "0p", "1p", "2p", "0b", "1b", "2b"}
    assert data["0pb"] == {"0": 0.25, "1": 0.75}
    assert data["2b"] == {"0": 0.5, "1": 0.5}


def test_leduc_file_lists_legal_actions_only(tmp_path):
    tree = game_tree("leduc_poker")
    export_policy(tree, *_random_tables(tree, 1), tmp_path / "l.json")
    data = json.loads((tmp_path / "l.json").read_text())
    opening = "[Observer: 0][Private: 3][Round 1][Player: 0][Pot: 2][Money: 99 99][Round1: ][Round2: ]"
    assert set(data[opening]) == {"1", "2"}  # nothing to fold against yet


def test_json_from_an_openspiel_tabular_policy_imports_to_the_same_numbers(tmp_path):
    game = pyspiel.load_game("leduc_poker")
    tp = os_policy.TabularPolicy(game)
    rng = np.random.default_rng(2)
    probs = rng.random(tp.action_probability_array.shape) * tp.legal_actions_mask
    tp.action_probability_array = probs / probs.sum(1, keepdims=True)
    # Written from OpenSpiel's own data: every state, every action (illegal ones at 0).
    data = {key: {str(a): p for a, p in row} for key, row in tp.to_dict().items()}
    (tmp_path / "os.json").write_text(json.dumps(data))
    tree = game_tree("leduc_poker")
    tables = import_policy(tree, tmp_path / "os.json")
    for p in (0, 1):
        for i, key in enumerate(tree.players[p].strings):
            np.testing.assert_allclose(tables[p][i], tp.action_probability_array[tp.state_lookup[key]], rtol=1e-6)
    # And the numbers mean the same thing in both libraries.
    np.testing.assert_allclose(float(exact.nash_conv(tree, *tables)), os_exploitability.nash_conv(game, tp), rtol=2e-6)


def test_exported_json_loads_into_openspiel(tmp_path):
    tree = game_tree("kuhn_poker")
    tables = _random_tables(tree, 3)
    export_policy(tree, *tables, tmp_path / "k.json")
    game = pyspiel.load_game("kuhn_poker")
    tp = os_policy.TabularPolicy(game)
    for key, row in json.loads((tmp_path / "k.json").read_text()).items():
        for a, prob in row.items():
            tp.action_probability_array[tp.state_lookup[key], int(a)] = prob
    np.testing.assert_allclose(os_exploitability.nash_conv(game, tp), float(exact.nash_conv(tree, *tables)), rtol=2e-6)


def _kuhn_data() -> dict:
    tree = game_tree("kuhn_poker")
    return {key: {"0": 0.5, "1": 0.5} for p in (0, 1) for key in tree.players[p].strings}


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update({"3pb": {"0": 1.0}}), r"unknown information state '3pb' for kuhn_poker"),
        (lambda d: d.pop("1pb"), r"1 of 12 information states of kuhn_poker are missing \(e.g. '1pb'\)"),
        (lambda d: d.update({"0": {"0": 0.5, "1": 0.4}}), r"state '0': probabilities sum to 0.9, expected 1"),
        (lambda d: d.update({"0": {"0": 0.5, "1": -0.5, "2": 1.0}}), r"must be a finite number >= 0"),
        (lambda d: d.update({"0": {"0": 0.5, "bet": 0.5}}), r"action 'bet' is not an action id 0..1"),
        (lambda d: d.update({"0": [0.5, 0.5]}), r"state '0': expected \{action id: probability\}, got list"),
    ],
)
def test_bad_policies_raise_one_clear_error(edit, match):
    data = _kuhn_data()
    edit(data)
    with pytest.raises(PhalanxError, match=match):
        policy_from_dict(game_tree("kuhn_poker"), data)


def test_mass_on_an_illegal_action_is_rejected():
    tree = game_tree("leduc_poker")
    data = {key: {"1": 1.0} for p in (0, 1) for key in tree.players[p].strings}
    opening = tree.players[0].strings[0]
    assert not tree.players[0].legal[0, 0]  # no fold at the very first decision
    data[opening] = {"0": 0.5, "1": 0.5}
    with pytest.raises(PhalanxError, match=r"action 0 is illegal there .* legal actions: \[1, 2\]"):
        policy_from_dict(tree, data)
    data[opening] = {"0": 0.0, "1": 1.0}  # zero mass on an illegal action is fine
    pi0, _ = policy_from_dict(tree, data)
    np.testing.assert_array_equal(pi0[0], [0.0, 1.0, 0.0])


def test_unreadable_files(tmp_path):
    tree = game_tree("kuhn_poker")
    with pytest.raises(PhalanxError, match="no such file"):
        import_policy(tree, tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PhalanxError, match="is not valid JSON"):
        import_policy(tree, tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(PhalanxError, match="expected a JSON object"):
        import_policy(tree, tmp_path / "list.json")
    with pytest.raises(PhalanxError, match=r"pi1 has shape \(6, 3\)"):
        export_policy(tree, np.ones((6, 2)) / 2, np.ones((6, 3)) / 3, tmp_path / "x.json")
