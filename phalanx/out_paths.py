"""Output paths the commands write, checked before any work: an extension a writer supports, a free default name.

Light on purpose (no JAX, no Pillow, no matplotlib): ``phalanx render out=tag.txt`` or ``phalanx plot
out=x.jpgg`` answers in one line before an episode renders or a figure draws.
"""

from __future__ import annotations

from pathlib import Path

from phalanx.errors import PhalanxError

#: Extensions an episode animation is written as (formats Pillow saves frame by frame).
ANIMATION_SUFFIXES = (".gif", ".webp")
#: The extension of a figure file (``phalanx plot`` draws PNGs).
FIGURE_SUFFIX = ".png"


def check_animation_path(path: str | Path, key: str = "out") -> Path:
    """``path`` if its extension is one of :data:`ANIMATION_SUFFIXES`; else a one-line
    :class:`~phalanx.errors.PhalanxError` naming ``key`` and the supported extensions."""
    path = Path(path)
    if path.suffix.lower() not in ANIMATION_SUFFIXES:
        raise PhalanxError(f"{key}={str(path)!r}: expected an animation file ending in "
                           f"{' or '.join(ANIMATION_SUFFIXES)}; e.g. {key}={path.with_suffix('.gif')}.")
    return path


def check_figure_target(path: str | Path, key: str = "out") -> Path:
    """``path`` if it names a ``.png`` file, an existing directory or a new one (a name without an extension);
    else a one-line :class:`~phalanx.errors.PhalanxError` (a mistyped extension never becomes a directory)."""
    path = Path(path)
    if path.suffix and path.suffix.lower() != FIGURE_SUFFIX and not path.is_dir():
        raise PhalanxError(f"{key}={str(path)!r}: expected a {FIGURE_SUFFIX} file or a directory for the figures "
                           f"(figures are PNG); e.g. {key}={path.with_suffix(FIGURE_SUFFIX)}.")
    if path.exists() and not path.is_dir() and path.suffix.lower() != FIGURE_SUFFIX:
        raise PhalanxError(f"{key}={str(path)!r} is a file; give a directory or a {FIGURE_SUFFIX} file.")
    return path


def free_name(name: str | Path) -> Path:
    """``name``, or ``stem-2.ext``, ``stem-3.ext``, ...: the first that does not exist (a default output that
    must not overwrite a user's file)."""
    first = Path(name)
    path, k = first, 1
    while path.exists():
        k += 1
        path = first.with_name(f"{first.stem}-{k}{first.suffix}")
    return path
