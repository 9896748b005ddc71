"""The pool of a labeling project on disk: ``pool.npy`` and ``pool.csv``.

``pool.npy`` is an uncompressed uint8 array ``(n, c, h, w)`` that commands
open memory-mapped (``np.load(path, mmap_mode="r")``), so only the rows a
command uses are read. It is written row by row as the images are read, with
plain writes (a memory map would keep every written page in the process's
resident memory), under a temporary name that is renamed into place.
``pool.csv`` lists each row's path, the SHA-256 of the file's bytes (which
``add`` uses to skip copies) and the file's Pillow mode.

Both files may hold more rows than the project has: ``project.json``'s
``n_pool`` is the commit, and readers take the first ``n_pool`` rows.
"""

import csv
import hashlib
import io
import os
import re
import secrets
from pathlib import Path

import numpy as np

from ..datasets._decode import GRAY_MODES, decode_image, image_mode
from ..datasets._own_images import warn_unreadable

__all__ = ["PoolWriter", "choose_channels", "read_index", "read_into_pool", "write_index"]

#: The columns of ``pool.csv``.
INDEX_COLUMNS = ("path", "sha256", "mode")
#: Rows copied at once when ``add`` copies the old pool into the new file.
COPY_ROWS = 4096


def _header(shape):
    buf = io.BytesIO()
    header = {"descr": "|u1", "fortran_order": False, "shape": tuple(int(s) for s in shape)}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


class PoolWriter:
    """Write ``pool.npy`` row by row; :meth:`commit` renames it into place.

    Parameters
    ----------
    path : Path
        The final file; a temporary file next to it is written first and is
        removed when the ``with`` block raises.
    image_shape : (int, int, int)
        ``(c, h, w)`` of every row.
    """

    def __init__(self, path, image_shape):
        self.path = Path(path)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.n = 0
        self._tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(8)}.tmp")
        self._file = None

    def __enter__(self):
        self._file = open(self._tmp, "xb")
        self._file.write(_header((0, *self.image_shape)))
        return self

    def __exit__(self, kind, exc, tb):
        if self._file is not None:
            self._file.close()
        self._tmp.unlink(missing_ok=True)  # gone after commit, removed after a failure
        return False

    def append(self, rows):
        """Append uint8 rows ``(k, c, h, w)`` (or one ``(c, h, w)`` row)."""
        rows = np.ascontiguousarray(rows, dtype=np.uint8)
        if rows.shape == self.image_shape:
            rows = rows[None]
        assert rows.shape[1:] == self.image_shape, rows.shape
        self._file.write(rows.tobytes())
        self.n += len(rows)

    def copy(self, X):
        """Append the rows of ``X`` (a memory map) a block at a time."""
        for start in range(0, len(X), COPY_ROWS):
            self.append(X[start : start + COPY_ROWS])

    def commit(self):
        """Write the final row count into the header, fsync, and rename into place."""
        header = _header((self.n, *self.image_shape))
        assert len(header) == len(_header((0, *self.image_shape)))
        self._file.seek(0)
        self._file.write(header)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self._tmp, self.path)


def choose_channels(files, channels):
    """``channels``, or when None: 1 if every file that opens is greyscale, else 3."""
    if channels is not None:
        return int(channels)
    for path in files:
        try:
            mode = image_mode(path)
        except Exception:  # noqa: BLE001  skipped (and named) when read
            continue
        if mode not in GRAY_MODES:
            return 3
    return 1


def read_into_pool(writer, files, image_size, known):
    """Read ``files`` into ``writer``; copies of known content are skipped.

    Parameters
    ----------
    writer : PoolWriter
    files : list of str
    image_size : (int, int)
    known : dict of str to str
        ``sha256 -> path`` of the images already in the pool; updated.

    Returns
    -------
    rows : list of (str, str, str)
        ``(path, sha256, mode)`` of every row appended, in order.
    skipped : list of (str, str)
        ``(path, reason)``: unreadable files and copies of another image.
    """
    channels = writer.image_shape[0]
    rows, skipped = [], []
    for path in files:
        try:
            data = Path(path).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in known:
                skipped.append((path, f"the same file content as {known[digest]}"))
                continue
            pixels, mode = decode_image(data, image_size, channels)
        except Exception as exc:  # noqa: BLE001  one bad file must not stop the rest
            why = re.sub(r" <_io\.BytesIO object at 0x[0-9a-f]+>", "", str(exc))
            skipped.append((path, f"{type(exc).__name__}: {why}"))
            continue
        writer.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
        known[digest] = path
        rows.append((path, digest, mode))
    unreadable = [(p, why) for p, why in skipped if not why.startswith("the same file")]
    warn_unreadable(unreadable, stacklevel=3)
    return rows, skipped


def write_index(write, rows):
    """The text of ``pool.csv`` for ``(path, sha256, mode)`` rows, handed to ``write``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    writer.writerows(rows)
    write(buf.getvalue())


def read_index(path):
    """The ``(path, sha256, mode)`` rows of ``pool.csv``.

    Raises
    ------
    ValueError
        When the file is not such a CSV (the caller names what to do).
    """
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        if tuple(next(reader, ())) != INDEX_COLUMNS:
            raise ValueError(f"the header is not {','.join(INDEX_COLUMNS)}")
        rows = [tuple(r) for r in reader]
    bad = [i + 2 for i, r in enumerate(rows) if len(r) != 3]
    if bad:
        raise ValueError(f"line {bad[0]} does not have 3 columns")
    return rows
