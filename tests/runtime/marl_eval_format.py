"""What marl-eval's loaders expect of a raw-data JSON file (instadeepai/marl-eval:
``marl_eval/utils/data_processing_utils.py::data_process_pipeline`` and
``marl_eval/utils/diagnose_data_errors.py::DiagnoseData``)."""

from __future__ import annotations

import math
import re


def check_marl_eval(data: dict, num_seeds: int) -> None:
    """Assert ``data`` is ``{env: {task: {ALGO: {"seed_k": {"step_i": {...}, "absolute_metrics": {...}}}}}}``.

    * env and task names lower case, algorithm names upper case (``DiagnoseData`` renames others);
    * every run has the same steps; ``step_i`` keys in order and the absolute metric last
      (``create_matrices_for_rliable`` reads ``steps[-1]`` as the absolute metrics and
      ``data_process_pipeline`` counts ``len(steps) - 1`` logging steps);
    * each step has an int ``step_count`` (increasing) and metric values as non-empty lists of
      finite numbers (``np.mean``/``np.min`` over them); the same metric names at every step and in
      the absolute metrics (``check_metric``), including ``return``.
    """
    assert isinstance(data, dict) and data
    for env, tasks in data.items():
        assert env == env.lower() and isinstance(tasks, dict) and tasks
        for task, algos in tasks.items():
            assert task == task.lower() and isinstance(algos, dict) and algos
            for algo, runs in algos.items():
                assert algo == algo.upper() and isinstance(runs, dict)
                assert list(runs) == [f"seed_{k}" for k in range(num_seeds)]
                step_lists = [list(steps) for steps in runs.values()]
                assert all(s == step_lists[0] for s in step_lists)
                metric_names = None
                for steps in runs.values():
                    keys = list(steps)
                    assert keys[-1] == "absolute_metrics"
                    assert keys[:-1] == [f"step_{i}" for i in range(len(keys) - 1)] and len(keys) >= 2
                    last_count = -1
                    for key, metrics in steps.items():
                        assert isinstance(metrics, dict)
                        if key != "absolute_metrics":
                            count = metrics["step_count"]
                            assert isinstance(count, int) and not isinstance(count, bool) and count > last_count
                            last_count = count
                        names = sorted(k for k in metrics if k != "step_count")
                        assert "return" in names
                        assert all(re.fullmatch(r"[a-z0-9_]+", n) for n in names)
                        metric_names = metric_names or names
                        assert names == metric_names
                        for n in names:
                            values = metrics[n]
                            assert isinstance(values, list) and values
                            assert all(isinstance(v, float | int) and math.isfinite(v) for v in values)
