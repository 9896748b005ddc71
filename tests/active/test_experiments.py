"""The simulated active-learning loop."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skfisher.active import initial_indices, run_active_learning


def test_loop_rejects_malformed_strategy_results():
    X = np.random.RandomState(0).randn(40, 3)
    y = np.arange(40) % 2
    bad = {
        "bare array": lambda clf, X_pool, n_instances: np.arange(n_instances),
        "duplicates": lambda clf, X_pool, n_instances: (np.zeros(n_instances, int), None),
        "out of range": lambda clf, X_pool, n_instances: (np.arange(n_instances) + 100, None),
    }
    for _name, strategy in bad.items():
        with pytest.raises((TypeError, ValueError), match="query_strategy must return"):
            run_active_learning(
                LogisticRegression(),
                strategy,
                X,
                y,
                n_initial=4,
                n_instances=3,
                n_rounds=1,
                progress=False,
            )


def test_initial_rows():
    y = np.repeat(np.arange(3), 10)
    idx = initial_indices(y, 6, random_state=0)
    assert np.bincount(y[idx]).tolist() == [2, 2, 2] and np.all(np.diff(idx) > 0)
    with pytest.raises(ValueError, match="smaller than the 3 classes"):
        initial_indices(y, 2)
    assert len(initial_indices(y, 2, initial="random", random_state=0)) == 2


def test_resume_continues_where_the_rounds_stopped():
    X = np.random.RandomState(0).randn(60, 3)
    y = (X[:, 0] > 0).astype(int)
    from skfisher import margin_sampling

    saved = []
    full, _ = run_active_learning(
        LogisticRegression(),
        margin_sampling,
        X,
        y,
        X,
        y,
        n_initial=6,
        n_instances=4,
        n_rounds=3,
        random_state=0,
        progress=False,
        on_round=lambda row, new: saved.append(new.tolist()),
    )
    rest, labeled = run_active_learning(
        LogisticRegression(),
        margin_sampling,
        X,
        y,
        X,
        y,
        n_initial=6,
        n_instances=4,
        n_rounds=3,
        random_state=0,
        progress=False,
        resume=saved[:2],
    )
    assert [r["round"] for r in rest] == [2, 3]
    assert [r["accuracy"] for r in rest] == [r["accuracy"] for r in full[2:]]
    assert labeled.tolist() == [i for rows in saved for i in rows]


class StubClassifier:
    """Logistic regression whose ``fit`` first calls ``on_fit(n_labels)``.

    With ``swallow=True`` it catches KeyboardInterrupt and returns untrained,
    as skorch's training loop does.
    """

    def __init__(self, on_fit, swallow=False):
        self.on_fit, self.swallow = on_fit, swallow

    def fit(self, X, y):
        try:
            self.on_fit(len(y))
        except KeyboardInterrupt:
            if not self.swallow:
                raise
            return self
        self.model_ = LogisticRegression().fit(X, y)
        return self

    def score(self, X, y):
        return self.model_.score(X, y)


@pytest.mark.parametrize("where", ["fit", "query", "swallowed SIGINT in fit"])
def test_an_interrupted_round_is_never_recorded(where, ctrl_c_enabled):
    import os
    import signal

    X = np.random.RandomState(0).randn(60, 3)
    y = (X[:, 0] > 0).astype(int)

    def interrupt(n_labels):  # in round 2, whose query and fit come at 14 labels
        if n_labels == 14:
            if where == "swallowed SIGINT in fit":
                os.kill(os.getpid(), signal.SIGINT)
            raise KeyboardInterrupt

    def first_rows(learner, X_pool, n_instances):
        if where == "query":
            interrupt(len(learner.X_training) + n_instances)
        return np.arange(n_instances), None

    estimator = StubClassifier(
        interrupt if where != "query" else lambda n: None,
        swallow=where == "swallowed SIGINT in fit",
    )
    saved = []
    with pytest.raises(KeyboardInterrupt):
        run_active_learning(
            estimator,
            first_rows,
            X,
            y,
            X,
            y,
            n_initial=6,
            n_instances=4,
            n_rounds=3,
            random_state=0,
            progress=False,
            on_round=lambda row, new: saved.append(row),
        )
    assert [row["round"] for row in saved] == [0, 1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _first_rows(learner, X_pool, n_instances):
    return np.arange(n_instances), None


def test_n_instances_is_required_and_positive():
    X = np.random.RandomState(0).randn(40, 3)
    y = np.arange(40) % 2
    args = (LogisticRegression(), _first_rows, X, y, X, y)
    kwargs = dict(n_initial=4, n_rounds=2, random_state=0, progress=False)
    _, labeled = run_active_learning(*args, n_instances=3, **kwargs)
    assert len(labeled) == 4 + 2 * 3
    with pytest.raises(TypeError, match="n_instances"):
        run_active_learning(*args, **kwargs)
    with pytest.raises(ValueError, match="'n_instances' parameter of run_active_learning"):
        run_active_learning(*args, n_instances=0, **kwargs)


def test_the_loop_imports_no_output_code():
    """The meta-estimator imports the loop; the loop writes no files, draws nothing."""
    import ast

    import skfisher.active._classifier
    import skfisher.active._loop

    output = {"tqdm", "csv", "json", "matplotlib", "skfisher.experiments", "experiments"}
    for module in (skfisher.active._loop, skfisher.active._classifier):
        tree = ast.parse(open(module.__file__).read())
        top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        names = {
            a.name.split(".")[0] for n in top_level if isinstance(n, ast.Import) for a in n.names
        }
        names |= {
            (n.module or "").split(".")[0] for n in top_level if isinstance(n, ast.ImportFrom)
        }
        assert not names & output, (module.__name__, names & output)


def test_save_results_leaves_the_matplotlib_backend_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    from skfisher.experiments import save_results

    previous = dict.__getitem__(matplotlib.rcParams, "backend")
    matplotlib.use("svg")  # the user's choice, which saving a plot must keep
    try:
        figures = plt.get_fignums()
        rows = [
            {
                "round": r,
                "n_labels": 10 * r + 10,
                "accuracy": 0.5 + r / 10,
                "query_seconds": 0.0,
                "fit_seconds": 0.0,
            }
            for r in range(3)
        ]
        paths = save_results(rows, tmp_path)
        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == figures
    finally:
        dict.__setitem__(matplotlib.rcParams, "backend", previous)
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
