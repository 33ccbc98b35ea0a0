"""Population-based training: payoff tables, meta-solvers, exact game-tree evaluation, PSRO, league.

A population is a pytree of policy parameters with a leading member axis; evaluating many
matchups or training several best responses at once is ``jax.vmap`` over that axis.
"""
