"""What ``record=PATH`` costs ``phalanx train``: env steps/s with and without it, in the same process.

Each repeat trains the same run twice — once plain, once with ``record=`` (every env step of the
rollout written to a vault between chunks) — alternating which goes first, and reads each chunk's
``steps_per_s`` from ``metrics.jsonl`` (the compiled chunk plus, when recording, handing its rows
to the host and writing them; compilation is outside it). The first chunk of each run is dropped
(warm-up); the table gives the median over the rest of every repeat and the ratio recorded / plain.

    python benchmarks/offline/record_cost.py [--algo ippo] [--env simple_spread] [--total-steps 409600]
        [--repeats 3] [--json out.json] [train.KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
from pathlib import Path

from rich.console import Console

from phalanx.runtime.run_config import resolve
from phalanx.runtime.train_run import run
from phalanx.runtime.vault import read_vault


def train_rate(args: list[str], out: Path, record: bool) -> tuple[list[float], int]:
    """Chunk ``steps_per_s`` of one run (first chunk dropped) and the vault's rows (0 when plain)."""
    extra = [f"run_dir={out / 'run'}"] + ([f"record={out / 'd.vlt'}"] if record else [])
    run(resolve([*args, *extra]), console=Console(file=io.StringIO()))
    lines = [json.loads(x) for x in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = int(read_vault(out / "d.vlt")[0]["rewards"].shape[0]) if record else 0
    return [x["steps_per_s"] for x in lines[1:]], rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", default="ippo")
    p.add_argument("--env", default="simple_spread")
    p.add_argument("--total-steps", type=int, default=409_600)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json")
    opts, train = p.parse_known_args()
    args = [f"env={opts.env}", f"algo={opts.algo}", f"train.total_steps={opts.total_steps}",
            f"log_every={opts.log_every}", "checkpoint_every=1000", *train]
    rates: dict[str, list[float]] = {"plain": [], "record": []}
    rows = 0
    for r in range(opts.repeats):
        for record in ((False, True) if r % 2 == 0 else (True, False)):
            with tempfile.TemporaryDirectory() as tmp:
                got, n = train_rate(args, Path(tmp), record)
            rates["record" if record else "plain"] += got
            rows = max(rows, n)
    plain, recorded = statistics.median(rates["plain"]), statistics.median(rates["record"])
    print(f"| {opts.env} | {opts.algo} | {' '.join(train) or 'defaults'} | {plain:,.0f} | {recorded:,.0f} | "
          f"{recorded / plain:.2f} | {rows:,} |")
    if opts.json:
        Path(opts.json).write_text(json.dumps({"args": args, "rates": rates, "plain": plain, "record": recorded,
                                               "ratio": recorded / plain, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
