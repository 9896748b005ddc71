"""``import skfisher`` needs only the required dependencies of pyproject.toml.

pandas, modAL, Dask and the labeling page's Starlette and uvicorn are
optional extras: no module of skfisher imports them at its top level, and a
FisherMask query runs without them. Each check runs in a fresh interpreter,
so the packages the test session already imported do not count.
"""

import subprocess
import sys
import textwrap

OPTIONAL = ("pandas", "modAL", "dask", "distributed", "starlette", "uvicorn", "selenium")


def _run(code):
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_fisher_mask_query_without_the_optional_packages():
    out = _run(
        f"""
        import sys

        for name in {OPTIONAL!r}:
            sys.modules[name] = None  # "import name" raises ImportError

        import numpy as np

        import skfisher
        from skfisher.datasets import load_digits_images

        X, y = load_digits_images(return_X_y=True)
        net = skfisher.ResNet18Classifier(max_epochs=1, device="cpu", random_state=0)
        net.fit(X[:40], y[:40])
        pool = X[40:60]
        indices, scores = skfisher.FisherMask(random_state=0)(net, pool, n_instances=3)
        assert len(set(np.asarray(indices).tolist())) == 3, indices
        assert all(0 <= i < len(pool) for i in indices), indices
        assert skfisher.utils.patch_modal() == ()
        print("ok")
        """
    )
    assert out.split() == ["ok"]


def test_import_skfisher_imports_no_optional_package():
    # the required dependencies come first: scikit-learn itself imports
    # pandas when it is installed, which is not skfisher's doing
    out = _run(
        f"""
        import sys

        import matplotlib, numpy, scipy, sklearn.utils.validation, skorch, torch
        import torchvision, tqdm

        def loaded():
            return {{m.split(".")[0] for m in sys.modules}} & set({OPTIONAL!r})

        before = loaded()
        import skfisher
        import skfisher.cli

        print(" ".join(sorted(loaded() - before)) or "none")
        """
    )
    assert out.split() == ["none"]
