"""One background job at a time: training and the next query, then the
learning curve and the agreement, in a worker process (``_worker.py``).

The page polls :meth:`JobRunner.snapshot`. A job asked for while one runs is
queued (one query at most) and starts when the running one ends.
:meth:`JobRunner.stop` interrupts the worker with SIGINT, as Ctrl-C does, so
the project is left as its last committed step left it.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["JobRunner"]


def _worker_env():
    """The environment of the worker: it imports the same skfisher as this process."""
    import skfisher

    source = str(Path(skfisher.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": source + (os.pathsep + path if path else "")}


class JobRunner:
    """Runs the worker process for ``project`` (a path) and keeps what it reports.

    Parameters
    ----------
    project : path-like
    n, strategy, device, cv
        The query's size, strategy and device, and the folds of the learning curve.
    """

    def __init__(self, project, *, n, strategy, device, cv):
        self.project = str(project)
        self.settings = {"n": n, "strategy": strategy, "device": device, "cv": cv}
        self._lock = threading.Lock()
        self._proc = None
        self._queued = None
        self._stopping = False
        self._state = {"running": False, "phase": "idle", "epoch": None, "max_epochs": None}
        self._state.update(error=None, in_use=False, pid=None, started=None, seconds=None)
        self.learning_curve = []
        self.agreement = []

    def snapshot(self):
        """The job's state and results, a copy."""
        with self._lock:
            return {
                **self._state,
                "queued": self._queued is not None,
                "learning_curve": list(self.learning_curve),
                "agreement": list(self.agreement),
            }

    def start(self, *, query):
        """Start a job (``query``: a query round first); queued while one runs.

        Returns "started", "queued" or "stopping".
        """
        with self._lock:
            if self._stopping:
                return "stopping"
            if self._state["running"]:
                self._queued = bool(query or self._queued)
                return "queued"
            self._launch(query)
            return "started"

    def _launch(self, query):
        """Start the worker (the caller holds the lock)."""
        since = max([a["round"] for a in self.agreement], default=0)
        spec = {"project": self.project, "query": query, "since": since, **self.settings}
        stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "skfisher.app._worker", json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            env=_worker_env(),
        )
        self._state.update(running=True, phase="starting", epoch=None, max_epochs=None)
        self._state.update(error=None, in_use=False, pid=self._proc.pid, started=time.time())
        self._state["seconds"] = None
        threading.Thread(target=self._follow, args=(self._proc, stderr), daemon=True).start()

    def _follow(self, proc, stderr):
        """Read the worker's reports until it ends, then start a queued job."""
        for line in proc.stdout:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self._take(report)
        code = proc.wait()
        stderr.seek(0)
        tail = stderr.read()[-1500:].strip()
        stderr.close()
        with self._lock:
            state = self._state
            if code and not state["error"] and not self._stopping:
                state["error"] = f"the background job stopped with exit status {code}: {tail}"
            state.update(running=False, phase="idle", pid=None)
            state["seconds"] = time.time() - state["started"]
            if self._queued is not None and not self._stopping:
                query, self._queued = self._queued, None
                self._launch(query)

    def _take(self, report):
        state = self._state
        if "phase" in report:
            state.update(phase=report["phase"], epoch=report.get("epoch"))
            state["max_epochs"] = report.get("max_epochs")
        if "error" in report:
            state.update(error=report["error"], in_use=report.get("in_use", False))
        if "learning_curve" in report:
            self.learning_curve = report["learning_curve"]
        if "agreement" in report:
            done = {a["round"] for a in report["agreement"]}
            self.agreement = [a for a in self.agreement if a["round"] not in done]
            self.agreement = sorted(self.agreement + report["agreement"], key=lambda a: a["round"])

    def stop(self, timeout=60):
        """Interrupt the running worker (SIGINT, as Ctrl-C) and wait for it to end."""
        with self._lock:
            self._stopping = True
            proc = self._proc
        if proc is None:
            return
        try:  # a Ctrl-C at the terminal reached the worker too: let it finish alone
            proc.wait(2)
            return
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
