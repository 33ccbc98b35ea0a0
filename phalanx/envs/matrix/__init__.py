"""Two-player matrix games as one-step environments."""
