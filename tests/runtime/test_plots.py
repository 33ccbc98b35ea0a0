"""The payoff heat map (runtime draws it from a PayoffTable's arrays) and the atomic writes every figure uses."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from phalanx.errors import PhalanxError
from phalanx.population.payoff_table import PayoffTable
from phalanx.runtime.atomic import atomic_path, write_json
from phalanx.runtime.plots import NAN_COLOUR, plot_payoffs


def table_of(n0: int, n1: int) -> PayoffTable:
    table = PayoffTable()
    for _ in range(n0):
        table.add_member(0)
    for _ in range(n1):
        table.add_member(1)
    return table


def fill_all(table: PayoffTable, fn) -> None:
    rows, cols = table.missing()
    table.fill(rows, cols, fn(rows, cols))


def _png(path) -> np.ndarray:
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_plot_payoffs_writes_png_with_distinct_nan_cells(tmp_path):
    table = table_of(3, 3)
    fill_all(table, lambda r, c: np.stack([r - c, c - r]).astype(float))
    table.add_member(0)  # a row not evaluated yet
    path = plot_payoffs(table, tmp_path)
    assert path == tmp_path / "payoffs.png" and not list(tmp_path.glob("*.tmp.png"))
    pixels = _png(path)
    nan_rgb = np.round(np.array(NAN_COLOUR) * 255).astype(np.uint8)
    assert np.all(pixels == nan_rgb, axis=-1).sum() > 100  # the missing row is drawn in the NaN colour
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # a real heat map, not a blank canvas
    complete = table_of(3, 3)
    fill_all(complete, lambda r, c: np.stack([r - c, c - r]).astype(float))
    full = _png(plot_payoffs(complete, tmp_path / "full.png", labels=(["a", "b", "c"], ["x", "y", "z"])))
    assert np.all(full == nan_rgb, axis=-1).sum() == 0


def test_plot_payoffs_large_and_label_errors(tmp_path):
    table = table_of(45, 33)
    rows, cols = table.missing()
    table.fill(rows[::2], cols[::2], np.stack([rows[::2] * 1.0, -cols[::2] * 1.0]))
    _png(plot_payoffs(table, tmp_path / "big.png"))
    with pytest.raises(PhalanxError, match="labels"):
        plot_payoffs(table_of(2, 2), tmp_path / "x.png", labels=(["a"], ["b", "c"]))


def test_atomic_writes_leave_the_old_file_on_error(tmp_path):
    target = tmp_path / "meta.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == '{\n "a": 1\n}' and sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]
