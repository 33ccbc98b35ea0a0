"""Learners. Each compiles end to end: ``make_train(config, env) -> Trainer``."""
