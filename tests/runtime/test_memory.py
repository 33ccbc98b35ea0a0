"""The memory estimate made before compiling: what it counts, and that default sizes pass."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from phalanx.errors import PhalanxError
from phalanx.runtime.memory import available, check_fits, check_run, estimate


def test_estimate_counts_inputs_outputs_and_the_largest_intermediate_inside_a_scan():
    def pairwise(x):  # a (1000, 1000) float32 matrix inside a scan body: 4 MB, the largest array
        def body(c, _):
            return c + (x[:, None] - x[None, :]).sum(), None
        return jax.lax.scan(body, jnp.float32(0), None, length=3)[0]

    assert estimate(pairwise, jax.ShapeDtypeStruct((1000,), jnp.float32)) == 4000 + 4 + 4_000_000


def test_default_sizes_fit_and_too_large_ones_are_one_line():
    from phalanx.runtime.run_config import resolve

    for args in (["env=tag"], ["env=simple_spread", "algo=mappo"], ["env=lbf", "algo=iql"]):
        check_run(resolve(args))  # no error
    have, where = available()
    assert have > 0 and where
    with pytest.raises(PhalanxError, match=r"^x needs at least .* of memory, more than the .*; reduce a, b\.$"):
        check_fits(have + 1, "x", ["a", "b"])
