"""The server's background job, run in its own process so that Ctrl-C stops
it like any ``skfisher label`` command: ``python -m skfisher.app._worker SPEC``.

``SPEC`` is JSON: ``project``, ``query`` (run a query round first), ``n``,
``strategy``, ``device``, ``cv`` (0 skips the learning curve) and
``since`` (agreement of the round pairs after that round only). The job goes
through :class:`~skfisher.LabelingProject`'s public methods only, so it takes
the project's lock like the command line does. Progress, results and errors
are written to stdout as one JSON object per line.
"""

import json
import sys

from ..labeling import LabelingProject
from ..labeling._progress import reporting
from ..utils import FolderInUseError

__all__ = ["main"]


def _emit(**fields):
    print(json.dumps(fields), flush=True)


def _reporter(phase):
    """A progress reporter emitting the epochs of ``phase[0]`` (which may change)."""

    def report(event, epoch, max_epochs):
        if event == "train_end" and phase[0] == "training":
            phase[0] = phase[1]  # the query's fit is done: choosing the images
            _emit(phase=phase[0])
        elif event in ("train_begin", "epoch"):
            _emit(phase=phase[0], epoch=epoch, max_epochs=max_epochs)

    return report


def run(spec):
    """Run the job that ``spec`` describes; its results go to stdout."""
    project = LabelingProject(spec["project"])
    phase = ["training", f"choosing images ({spec['strategy']})"]
    with reporting(_reporter(phase)):
        if spec["query"]:
            _emit(phase="training", epoch=0, max_epochs=project.config["model"]["max_epochs"])
            result = project.query(spec["n"], strategy=spec["strategy"], device=spec["device"])
            _emit(round=result["round"])
        if spec["cv"]:
            phase[0] = "learning curve (cross-validation)"
            _emit(phase=phase[0])
            status = project.status(cv=spec["cv"], device=spec["device"], plot=False)
            _emit(learning_curve=status["learning_curve"])
        phase[0] = "agreement of consecutive rounds' models"
        _emit(phase=phase[0])
        agreement = project.agreement(since=spec["since"], device=spec["device"])
        _emit(agreement=agreement["rounds"])


def main(argv=None):
    """Entry point; returns the exit status (2: an error, 130: interrupted)."""
    spec = json.loads((sys.argv[1:] if argv is None else argv)[0])
    try:
        run(spec)
    except KeyboardInterrupt:
        return 130
    except FolderInUseError as exc:
        _emit(error=str(exc), in_use=True)
        return 2
    except (ValueError, OSError) as exc:
        _emit(error=str(exc), in_use=False)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
