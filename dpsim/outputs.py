"""Writing an output file: whole or not at all, and never through (or over) a symbolic link.

Every file dpsim writes for a user (``--out``, ``--trace``, ``--plot``, reports, profiles, a
validation's folder, a sweep's partial results) goes through :func:`replaced`: the content is
written to a temporary file in the destination's directory and renamed onto it, so a reader sees
the old file or the new one, never half of one, and a failure leaves nothing behind.

An output path that is a symbolic link is refused (:func:`refuse_link`). Renaming onto it would
silently replace the link by a regular file (the file it pointed to left stale), and writing through
it would write somewhere the command line does not name: in a shared folder a planted
``out.csv -> ~/.bashrc`` would be overwritten. The error names the link and its target, so a user
who meant the target passes it. A path that exists and is not a regular file (a device, a FIFO, a
socket) is refused too: renaming onto ``/dev/null`` as root would replace the device. So is a read-only file (no
write permission for anyone, or none for this user): the rename needs only the folder's, and replaced it whole.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dpsim.errors import ScenarioError

__all__ = ["OUTPUT_SOURCE", "refuse_link", "replaced"]

OUTPUT_SOURCE = "<command line>"
"""The source an output's error names (the path comes from the command line or its folder)."""


def refuse_link(path: str | Path, field: str) -> None:
    """Raise a one-line :class:`ScenarioError` naming ``field`` if ``path`` is a link, not a regular file, or a
    read-only one."""
    path = Path(path)
    if path.is_symlink():
        target = os.readlink(path)
        raise ScenarioError(
            field,
            f"{str(path)!r} is a symbolic link (to {target!r}): name the file to write itself, or remove the link",
            OUTPUT_SOURCE,
        )
    if path.exists() and not path.is_file() and not path.is_dir():
        raise ScenarioError(field, f"cannot write {str(path)!r}: not a regular file", OUTPUT_SOURCE)
    if path.is_file() and not (path.stat().st_mode & 0o222 and os.access(path, os.W_OK)):
        # round 36: the rename replaced a read-only file (mode 444) whole, as its owner or root, without a word
        raise ScenarioError(
            field, f"cannot write {str(path)!r}: it is read-only (make it writable, or write elsewhere)", OUTPUT_SOURCE
        )


@contextmanager
def replaced(path: str | Path, field: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it onto ``path`` when the block succeeds.

    ``path`` is refused first if it is a symbolic link or a special file (:func:`refuse_link`), and again
    just before the rename. On any failure or signal the temporary file is removed and ``path`` is left
    as it was. The file gets the usual permissions (``0666 & ~umask``; ``mkstemp`` makes ``0600``).
    """
    path = Path(path)
    refuse_link(path, field)
    directory = path.parent if str(path.parent) else Path(".")
    # the temporary name fits wherever the name does: at most 48 characters of it (4 bytes each in UTF-8), mkstemp's
    # 8 letters and a suffix of at most 16 (a 250-byte name plus the 8 letters would not fit in 255 bytes)
    suffix = path.suffix if 0 < len(path.suffix) <= 16 else ".tmp"  # writers such as savefig read the suffix
    fd, name = tempfile.mkstemp(prefix=f".{path.name[:48]}.", suffix=suffix, dir=directory)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        refuse_link(path, field)  # made a link while the content was written
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
