"""Multi-agent particle environments (PettingZoo ``mpe2``), in pure JAX."""
