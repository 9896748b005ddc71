"""Result files that survive crashes, Ctrl-C and a second process.

* :func:`folder_lock` takes an exclusive ``fcntl.flock`` on a lock file in the
  results folder (``.skfisher.lock`` by default). A command holds it while it
  writes there, so a second command into the same folder stops with
  :class:`FolderInUseError` instead of mixing or duplicating results. The
  operating system releases the lock when the process ends, however it ends.
  Where ``fcntl`` does not exist (Windows) nothing is locked.
* :func:`write_atomic` writes a temporary file next to the target (text,
  bytes, or through a writer function such as ``np.savez``), fsyncs it, then
  ``os.replace`` s it: a reader sees the old file or the new one, never half.
* :func:`append_line` appends one durable line, first ending a torn last line.
* :func:`check_writable` and :func:`check_output_file` fail early, before any
  expensive work.
* :func:`results_folder` does both for a command's output folder, and removes
  the folder again when the command fails before writing anything there.
* :func:`new_figure` and :func:`png_bytes` draw figures without pyplot, so
  the user's matplotlib backend is never touched.
"""

import io
import os
import secrets
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = [
    "new_figure",
    "png_bytes",
    "FolderInUseError",
    "append_line",
    "check_output_file",
    "check_writable",
    "folder_lock",
    "results_folder",
    "write_atomic",
]

LOCK_NAME = ".skfisher.lock"


class FolderInUseError(OSError):
    """Another process holds the results folder's lock."""


def _take(f, wait, timeout):
    """Lock the open file ``f``; False when another process holds it past ``timeout``."""
    if wait:
        fcntl.flock(f, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + (timeout or 0)
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


@contextmanager
def folder_lock(folder, *, name=LOCK_NAME, wait=False, timeout=None, advice=None):
    """Hold an exclusive lock on ``folder / name`` for the ``with`` block.

    Parameters
    ----------
    folder : path-like
        An existing folder.
    name : str, default=".skfisher.lock"
    wait : bool, default=False
        Block until the lock is free instead of raising.
    timeout : float, default=None
        With ``wait=False``: seconds to wait for the lock before raising
        (None or 0: raise at once).
    advice : str, default=None
        What the error message tells the user to do; by default, to wait or
        choose another output folder.

    Raises
    ------
    FolderInUseError
        When ``wait=False`` and another process holds the lock (after
        ``timeout`` seconds); the message names its process id.
    """
    path = Path(folder) / name
    with open(path, "a+") as f:
        if fcntl is not None:
            if not _take(f, wait, timeout):
                f.seek(0)
                holder = f.read().strip() or "unknown"
                waited = f" (waited {timeout:g} s)" if timeout else ""
                raise FolderInUseError(
                    f"{folder} is in use by another skfisher process (pid {holder}, lock "
                    f"file {path}){waited}; "
                    + (advice or "wait for it to finish or choose another output folder")
                    + "."
                ) from None
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
        yield path


def write_atomic(path, data):
    """Replace ``path`` with ``data`` in one step: a reader sees the old file or the new one.

    The data go to a temporary file next to ``path`` (created like ``open``
    creates files, so with the usual permissions), which is flushed, fsynced
    and renamed over ``path`` with ``os.replace``. When writing fails, the
    temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        The file to write; its folder must exist.
    data : str, bytes or callable
        The content: text (written as UTF-8), bytes, or a function that
        writes into the binary file object it is given, e.g.
        ``lambda f: np.savez(f, X=X)`` or ``lambda f: fig.savefig(f, format="png")``.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not (callable(data) or isinstance(data, (bytes, bytearray, memoryview))):
        raise TypeError(f"data must be str, bytes or a callable; got {type(data).__name__}.")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    f = open(tmp, "xb")  # a new file, never another writer's
    try:
        with f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def append_line(path, line):
    """Append ``line`` and a newline durably; a torn last line is ended first."""
    with open(path, "ab+") as f:
        f.seek(0, os.SEEK_END)
        if f.tell():
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
        f.write(line.encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())


def check_writable(folder):
    """Create ``folder`` if needed and check that files can be written there.

    Raises
    ------
    OSError
        With a message naming the folder.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OSError(
            f"cannot write results to {folder}: {exc.strerror or exc}; choose another "
            "output folder."
        ) from None


def check_output_file(path):
    """Check, before any work, that the file ``path`` can be written; returns a Path.

    Raises
    ------
    ValueError
        When ``path`` is a folder.
    OSError
        When its folder does not exist or is not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{path} is a folder; give the path of the file to write (in it, or elsewhere)."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: its folder {path.parent} does not exist.")
    check_writable(path.parent)
    return path


@contextmanager
def results_folder(folder):
    """Check that ``folder`` is writable (creating it), then hold its lock.

    If the block raises (bad input, Ctrl-C) and this call created the folder
    and nothing but the lock file is in it, the folder is removed again: a
    failed command leaves no empty results folder behind.
    """
    folder = Path(folder)
    created = not folder.exists()
    check_writable(folder)
    try:
        with folder_lock(folder) as lock:
            yield lock
    except BaseException:
        if created and [p.name for p in folder.iterdir()] == [LOCK_NAME]:
            try:
                (folder / LOCK_NAME).unlink()
                folder.rmdir()
            except OSError:  # another process got there: leave it to that one
                pass
        raise


def new_figure(**kwargs):
    """A ``matplotlib.figure.Figure`` with its own Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig, dpi=120):
    """The figure as PNG bytes."""
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi)
    return png.getvalue()
