"""The docs cannot drift: the env guide's code runs, and every quoted ``phalanx`` command resolves.

* ``docs/write-your-own-env.md``: its ```` ```python ```` blocks are joined in order and run in a
  fresh interpreter (the guide registers an env; a subprocess keeps that out of the other
  tests' registry), followed by checks of what the guide claims: the env passes
  ``check_env``, the tiny IPPO run beats uniform random play by a margin, the GIF exists.
* Every ``phalanx <command> key=value ...`` line quoted in ``docs/*.md`` and ``README.md``
  must resolve to a config through the CLI's own resolution (``phalanx.cli.SCHEMAS``): an
  unknown key, env, game or value fails here. Nothing is trained.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDE = DOCS / "write-your-own-env.md"

# What the guide promises, checked after its code ran (in the same namespace).
GUIDE_CHECKS = textwrap.dedent("""
    import numpy as np
    from PIL import Image

    assert isinstance(phalanx.make("predator_prey"), PredatorPrey)
    assert ts.obs["predators"].shape == (2, 4)
    gain = trained["predators"].mean() - rand["predators"].mean()
    assert gain > 0.2, f"trained predators beat random by only {gain:.3f}"
    assert frames[0].shape == (400, 400, 3) and frames[0].dtype == np.uint8
    gif = Image.open("predator_prey.gif")
    assert gif.n_frames == len(states) >= 2, (gif.n_frames, len(states))
    print("GUIDE-OK")
""")


def python_blocks(markdown: str) -> list[str]:
    """The bodies of the ```` ```python ```` fenced blocks of ``markdown``, in order."""
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.S | re.M)


def test_guide_code_blocks_are_found():
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 4
    assert "class PredatorPrey(Environment)" in blocks[0]
    # The promise: a complete env, registered, trained and rendered, in under 100 lines.
    lines = [ln for b in blocks for ln in b.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(lines) < 100, len(lines)


def test_write_your_own_env_guide_runs(tmp_path):
    code = "\n".join(python_blocks(GUIDE.read_text())) + GUIDE_CHECKS
    script = tmp_path / "guide.py"
    script.write_text(code)
    # Cheaper XLA passes: compiling the PPO update dominates this test (the guide's numbers hold either way).
    env = {**os.environ, "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0 and "GUIDE-OK" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
