"""The warehouse floor: scenario presets, highways, shelf cells and goals (NumPy, built once per env).

Coordinates are ``(row, col)`` with row 0 at the top, as Jumanji's ``(x, y)``. The floor of
``shelf_rows`` × ``shelf_columns`` shelf clusters, each 2 cells wide and ``column_height`` tall,
is ``H = (column_height + 1) * shelf_rows + 2`` rows by ``W = 3 * shelf_columns + 1`` columns::

    ----------        a cell is a highway (free floor) when its column is a multiple of 3,
    -XX-XX-XX-        its row a multiple of column_height + 1, or it is in the last row
    -XX-XX-XX-        (the delivery row); the two middle columns of the lowest cluster row are
    ----------        highways too, so agents can queue in front of the goals.
    -XX----XX-        Every other cell (X) starts with a shelf; shelves are numbered in
    -XX----XX-        row-major order of their starting cells.
    ----------
    ----GG----        G: the two goals, (H - 1, W // 2 - 1) and (H - 1, W // 2), in that order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: Scenario presets: ``name -> (shelf_rows, shelf_columns, num_agents, request_queue_size)``;
#: every preset has ``column_height=8`` and ``sensor_range=1``. These are Mava's RWARE task names;
#: sizes follow the original RWARE (tiny 1×3, small 2×3, medium 2×5, large 3×5 shelf clusters;
#: Mava adds xlarge 4×5) and the request queue is ``num_agents``, twice that for ``-easy`` and
#: half for ``-hard``.
SCENARIOS: dict[str, tuple[int, int, int, int]] = {
    "tiny-2ag": (1, 3, 2, 2),
    "tiny-2ag-hard": (1, 3, 2, 1),
    "tiny-4ag": (1, 3, 4, 4),
    "tiny-4ag-easy": (1, 3, 4, 8),
    "tiny-4ag-hard": (1, 3, 4, 2),
    "small-4ag": (2, 3, 4, 4),
    "small-4ag-hard": (2, 3, 4, 2),
    "medium-4ag": (2, 5, 4, 4),
    "medium-4ag-hard": (2, 5, 4, 2),
    "medium-6ag": (2, 5, 6, 6),
    "large-4ag": (3, 5, 4, 4),
    "large-4ag-hard": (3, 5, 4, 2),
    "large-8ag": (3, 5, 8, 8),
    "large-8ag-hard": (3, 5, 8, 4),
    "xlarge-4ag": (4, 5, 4, 4),
    "xlarge-4ag-hard": (4, 5, 4, 2),
}
PRESET_COLUMN_HEIGHT = 8
PRESET_SENSOR_RANGE = 1


@dataclasses.dataclass(frozen=True)
class Layout:
    """The static floor plan of one warehouse size.

    Attributes:
        height, width: grid size ``H × W``.
        highways: ``(H, W)`` bool, free floor (shelves cannot be put down there).
        shelf_cells: ``(S, 2)`` int32 starting cell of each shelf, row-major (shelf ids ``0..S-1``).
        goals: ``(2, 2)`` int32 goal cells ``(row, col)``, in delivery-check order.
    """

    height: int
    width: int
    highways: np.ndarray
    shelf_cells: np.ndarray
    goals: np.ndarray

    @property
    def num_shelves(self) -> int:
        """``S``, the number of shelves (rows of ``shelf_cells``)."""
        return int(self.shelf_cells.shape[0])


def make_layout(shelf_rows: int, shelf_columns: int, column_height: int) -> Layout:
    """The floor plan of Jumanji's ``RobotWarehouse`` generator (see the module docstring)."""
    height = (column_height + 1) * shelf_rows + 2
    width = 3 * shelf_columns + 1
    row, col = np.indices((height, width))
    middle = (col == width // 2 - 1) | (col == width // 2)
    highways = (
        (col % 3 == 0)
        | (row % (column_height + 1) == 0)
        | (row == height - 1)
        | ((row > height - (column_height + 3)) & middle)
    )
    shelf_cells = np.argwhere(~highways).astype(np.int32)  # row-major, as Jumanji numbers shelves
    goals = np.array([[height - 1, width // 2 - 1], [height - 1, width // 2]], np.int32)
    return Layout(height, width, highways, shelf_cells, goals)


def num_obs_features(sensor_range: int) -> int:
    """Length of one agent's observation: ``8 + 5 (K - 1) + 2 K`` with ``K = (2 r + 1)²`` sensor cells."""
    k = (2 * sensor_range + 1) ** 2
    return 8 + 5 * (k - 1) + 2 * k
