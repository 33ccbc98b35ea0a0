"""Learners behind one protocol (:mod:`phalanx.algos.common.protocol`): ``make_train(config, env, learners=None)``."""
