"""How work is executed: the only layer that touches files, processes, clusters and progress bars.

``algos`` build pure, compiled update functions and ``population`` the meta-games; this package
drives them from the host and, between compiled steps, logs (JSONL, TensorBoard, marl-eval JSON),
draws figures, checkpoints (Orbax) and shows progress. Submodules, one concept each:

* :mod:`~phalanx.runtime.run_dir` — the run directory of every command (create, resume rules).
* :mod:`~phalanx.runtime.run_context` — the run skeleton: backend, checkpoints, metrics, TensorBoard, progress bar.
* :mod:`~phalanx.runtime.train_run`, :mod:`~phalanx.runtime.population_run`, :mod:`~phalanx.runtime.league_run`
  — the run functions of ``phalanx train``, ``psro``/``selfplay`` and ``league``.
* :mod:`~phalanx.runtime.launch` and :mod:`~phalanx.runtime.coordinator` — a run here or in a Ray coordinator.
* :mod:`~phalanx.runtime.metrics` — chunk metrics → JSONL lines, TensorBoard, marl-eval JSON.
* :mod:`~phalanx.runtime.plots` — every figure; :mod:`~phalanx.runtime.plot_runs` — ``phalanx plot``.
* :mod:`~phalanx.runtime.checkpoint` — atomic Orbax checkpoints; :mod:`~phalanx.runtime.atomic` — atomic files.
* :mod:`~phalanx.runtime.evaluate` — ``phalanx eval``: a checkpoint vs a uniform random policy.
"""
