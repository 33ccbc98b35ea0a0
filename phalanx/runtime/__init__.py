"""The ``phalanx train`` runtime: the only layer that touches files, processes and progress bars.

``algos`` build pure, compiled update functions; this package drives them from the host in
compiled chunks and, between chunks, logs (JSONL, TensorBoard, marl-eval JSON, a plot),
checkpoints (Orbax) and shows progress. Submodules, one concept each:

* :mod:`~phalanx.runtime.run_config` — ``RunConfig`` and resolving it from ``key=value`` args.
* :mod:`~phalanx.runtime.run_dir` — the run directory layout.
* :mod:`~phalanx.runtime.metrics` — chunk metrics → JSONL lines, TensorBoard, marl-eval JSON.
* :mod:`~phalanx.runtime.plots` — ``learning_curve.png``.
* :mod:`~phalanx.runtime.checkpoint` — atomic Orbax checkpoints of the whole ``TrainState``.
* :mod:`~phalanx.runtime.loop` — the host loop (``run``).
* :mod:`~phalanx.runtime.evaluate` — ``phalanx eval``: a checkpoint vs a uniform random policy.
"""
