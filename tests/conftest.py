import numpy as np
import pytest

from skfisher import ResNet18Classifier
from skfisher.datasets import load_digits_images


@pytest.fixture(scope="session")
def digits():
    """Digits images split into a 1297-row pool and a 500-row test set."""
    X, y = load_digits_images(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))
    return X[order[:1297]], y[order[:1297]], X[order[1297:]], y[order[1297:]]


def make_net(**params):
    """A quick CPU net for tests."""
    defaults = dict(max_epochs=2, random_state=0, device="cpu")
    return ResNet18Classifier(**{**defaults, **params})


@pytest.fixture(scope="session")
def fitted_net(digits):
    """A net trained on 100 digits (well below 100 % confident)."""
    X, y, _, _ = digits
    return make_net(max_epochs=10).fit(X[:100], y[:100])


@pytest.fixture
def ctrl_c_enabled():
    """Python's own Ctrl-C handler for the test, and so for the processes it starts.

    A shell starts a background job (``pytest ... &``) with SIGINT ignored, and
    its children inherit that: such a process rightly ignores Ctrl-C, so tests
    of what Ctrl-C does set the handler an interactive run has.
    """
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
