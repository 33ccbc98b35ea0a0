"""The docs cannot drift: their code runs, and every quoted ``phalanx`` command resolves.

* ``docs/write-your-own-env.md``: its ```` ```python ```` blocks are joined in order and run in a
  fresh interpreter (the guide registers an env; a subprocess keeps that out of the other
  tests' registry), followed by checks of what the guide claims: the tiny IPPO run beats
  uniform random play by a margin, the frames and the GIF exist.
* ``docs/psro-on-poker.md``: its Python runs PSRO on Kuhn poker, exports the policy and checks
  the exploitability against OpenSpiel's own.
* The other pages' Python blocks must compile and their imports must work.
* Every ``phalanx <command> key=value ...`` line quoted in ``docs/*.md`` and ``README.md``
  resolves to a config through the CLI's own resolution (``phalanx.cli.SCHEMAS``): an unknown
  key, env, game or value fails here. Nothing is trained.
"""

from __future__ import annotations

import ast
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
    print("DOC-OK")
""")


def fenced_blocks(markdown: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block of ``markdown``, in order (fences may be indented)."""
    blocks, lang, body = [], None, []
    for line in markdown.splitlines():
        fence = line.strip().startswith("```")
        if lang is None and fence:
            lang, body = line.strip()[3:].strip(), []
        elif lang is not None and fence:
            blocks.append((lang, "\n".join(body) + "\n"))
            lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, "unclosed fenced block"
    return blocks


def python_blocks(markdown: str) -> list[str]:
    """The bodies of the ```` ```python ```` fenced blocks of ``markdown``, in order."""
    return [body for lang, body in fenced_blocks(markdown) if lang == "python"]


def test_guide_code_blocks_are_found():
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 4
    assert "class PredatorPrey(Environment)" in blocks[0]
    # The promise: a complete env, registered, trained and rendered, in under 100 lines.
    assert sum(len(b.splitlines()) for b in blocks) < 100  # blank lines and comments included


def run_doc(doc: Path, checks: str, cwd: Path) -> None:
    """Run ``doc``'s python blocks, then ``checks``, in a fresh interpreter in ``cwd``; fail with its output."""
    script = cwd / f"{doc.stem}.py"
    script.write_text("\n".join(python_blocks(doc.read_text())) + checks)
    # Cheaper XLA passes: compiling the PPO update dominates the guide's run (its numbers hold either way).
    env = {**os.environ, "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"}
    proc = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0 and "DOC-OK" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_write_your_own_env_guide_runs(tmp_path):
    run_doc(GUIDE, GUIDE_CHECKS, tmp_path)


def test_psro_on_poker_code_runs(tmp_path):
    # PSRO with exact best responses solves Kuhn; OpenSpiel's own exploitability of the exported policy agrees.
    checks = textwrap.dedent("""
        assert ours < 1e-3, ours
        assert abs(ours - theirs) < 1e-5, (ours, theirs)
        print("DOC-OK")
    """)
    run_doc(DOCS / "psro-on-poker.md", checks, tmp_path)


def test_trained_policy_page_runs(tmp_path):
    # Its tiny phalanx train command, then its Python: load_policy, an episode one env at a time, a batch.
    doc = DOCS / "trained-policy.md"
    train = next(line for line, _ in quoted_commands(doc.read_text()) if line.startswith("phalanx train"))
    proc = subprocess.run([sys.executable, "-m", "phalanx", *shlex.split(train)[1:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    checks = textwrap.dedent("""
        assert set(actions) == {"agents"} and actions["agents"].shape == (2,)
        assert batch_actions["agents"].shape == (8, 2) and policy.step >= 1
        print("DOC-OK")
    """)
    run_doc(doc, checks, tmp_path)


def test_other_docs_code_imports(tmp_path):
    # Blocks not run end to end (they train for minutes) must still parse and import what they use.
    lines = []
    for doc in sorted(DOCS.glob("*.md")):
        if doc.name in ("write-your-own-env.md", "psro-on-poker.md"):
            continue
        for block in python_blocks(doc.read_text()):
            tree = ast.parse(block, doc.name)  # parses, and finds imports written over several lines
            lines += [ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    script = tmp_path / "imports.py"
    script.write_text("\n".join(lines) + "\nprint('DOC-OK')\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "DOC-OK" in proc.stdout, proc.stderr[-3000:]


# ------------------------------------------------------------------------------------ commands
def _doc_files() -> list[Path]:
    return [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


def quoted_commands(markdown: str) -> list[tuple[str, bool]]:
    """``(command line, expected to fail)`` for every ``phalanx ...`` line in fenced shell blocks
    (```` ```bash ````, ```` ```console ````, or no language) and inline code spans. A
    ``$ phalanx ...`` line followed by ``phalanx: error:`` shows a mistake on purpose: it must fail
    resolution. (Errors that only a run can raise — Ray, resume directories — are shown in
    ```` ```text ```` blocks and tested in tests/test_newcomer_errors.py.)"""
    out = []
    for lang, block in fenced_blocks(markdown):
        if lang not in ("", "bash", "sh", "shell", "console"):
            continue
        lines = block.splitlines()
        for i, line in enumerate(lines):
            line = line.strip().removeprefix("$ ")
            if line.startswith("phalanx "):
                fails = i + 1 < len(lines) and lines[i + 1].startswith("phalanx: error:")
                out.append((line, fails))
    for span in re.findall(r"`(phalanx [^`]+)`", markdown):
        # Inline spans may name a pattern (`phalanx config train algo=NAME`); only literal lines are checked.
        if not re.search(r"=[A-Z_]+\b|\.\.\.|<|\|", span):
            out.append((span.strip(), False))
    return out


def _commands() -> list[tuple[str, str, bool]]:
    found = []
    for path in _doc_files():
        for line, fails in quoted_commands(path.read_text()):
            found.append((path.name, line, fails))
    return found


def resolve_command(line: str):
    """Resolve ``phalanx CMD key=value ...`` to its config the way the CLI does, without running it."""
    from phalanx.cli import COMMANDS, SCHEMAS

    words = shlex.split(line, comments=True)[1:]
    assert words, line
    if words[0] in ("-h", "--help", "help"):
        return None
    command, args = words[0], [w for w in words[1:] if w not in ("-h", "--help")]
    if command == "config":  # phalanx config COMMAND ...
        command, args = args[0], args[1:]
    assert command in COMMANDS, f"unknown command in docs: {line}"
    if not args and words[0] != "config":  # a command named in prose (`phalanx eval`), not a command line
        return None
    if command in SCHEMAS:
        return SCHEMAS[command](args)
    assert all("=" in a for a in args), line
    return None


def test_docs_quote_commands():
    lines = [c for _, c, _ in _commands()]
    kuhn = "phalanx psro env=kuhn_poker population.oracle=exact population.meta_solver=nash population.iterations=20"
    for must in (kuhn, "phalanx train"):
        assert any(c.startswith(must) for c in lines), must


@pytest.mark.parametrize(("doc", "line", "fails"), _commands(), ids=lambda v: v if isinstance(v, str) else None)
def test_quoted_command_resolves(doc: str, line: str, fails: bool):
    from phalanx.errors import PhalanxError

    if fails:
        with pytest.raises(PhalanxError):
            resolve_command(line)
    else:
        resolve_command(line)
