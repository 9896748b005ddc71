"""Progress of a labeling project's training, for whoever shows it (``label serve``).

Inside ``with reporting(report):`` every model the project builds
(:func:`~skfisher.labeling._model.project_estimator`) gets a skorch callback
that calls ``report(event, epoch, max_epochs)``: ``"train_begin"``,
``"epoch"`` after each epoch and ``"train_end"``. Outside such a block the
models are built as before. The reporter is local to the thread (a
:class:`contextvars.ContextVar`), as :func:`skfisher.config_context` is.
"""

import contextvars
from contextlib import contextmanager

__all__ = ["progress_callbacks", "reporting"]

_REPORT = contextvars.ContextVar("skfisher_labeling_progress", default=None)


@contextmanager
def reporting(report):
    """Send the training progress of the project's models to ``report`` in the block."""
    token = _REPORT.set(report)
    try:
        yield report
    finally:
        _REPORT.reset(token)


def progress_callbacks():
    """skorch ``callbacks`` for the current reporter: ``{}`` when there is none."""
    report = _REPORT.get()
    return {} if report is None else {"callbacks": [("progress", _EpochReport(report))]}


def _epoch_report_class():
    from skorch.callbacks import Callback

    class EpochReport(Callback):
        """Calls ``report(event, epoch, max_epochs)`` at the start, after each epoch, at the end."""

        def __init__(self, report):
            self.report = report

        def on_train_begin(self, net, **kwargs):
            self.report("train_begin", 0, net.max_epochs)

        def on_epoch_end(self, net, **kwargs):
            self.report("epoch", len(net.history), net.max_epochs)

        def on_train_end(self, net, **kwargs):
            self.report("train_end", len(net.history), net.max_epochs)

    return EpochReport


def _EpochReport(report):
    """A skorch callback reporting to ``report`` (skorch is imported only when used)."""
    return _epoch_report_class()(report)
