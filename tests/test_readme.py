"""The README's library example runs and its stated shapes are right."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        namespace: dict = {}
        lines = []
        for line in block.splitlines():
            code, _, comment = line.partition("  # ")
            lines.append(code)
            shape = re.match(r"\s*\(([\d, *+]+)\)", comment)
            if code.strip().endswith(".shape") and shape:
                # Turn "x.shape   # (30, 7 * 32 + 1)" into an assertion.
                lines[-1] = f"assert tuple({code.strip()}) == ({shape.group(1)},), {code.strip()}"
        exec(compile("\n".join(lines), str(README), "exec"), namespace)
