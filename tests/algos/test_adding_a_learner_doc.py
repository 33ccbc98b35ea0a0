"""docs/adding-a-learner.md runs: its learner registers, learns a coordination game and best-responds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "adding-a-learner.md"


def test_the_guide_runs_and_its_learner_learns():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3
    out = subprocess.run([sys.executable, "-c", "\n".join(blocks)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    mean = float(re.search(r"last 10 updates: ([-\d.]+)", out.stdout).group(1))
    assert mean > 0.6, out.stdout  # random play earns 0.19
    assert "best response: paper" in out.stdout
