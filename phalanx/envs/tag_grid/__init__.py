"""WarpDrive's gridworld Tag, in pure JAX."""
