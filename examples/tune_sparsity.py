"""
Tune FisherMask with GridSearchCV
=================================

Tune FisherMask's sparsity and ridge with GridSearchCV, on active learning itself.

ActiveLearningClassifier runs a simulated pool-based loop inside ``fit``: each
grid point is scored by the accuracy of the model after the loop on the held
out fold, and by the area under its learning curve (AULC, on an internal
validation split).

Run: ``python examples/tune_sparsity.py`` (a few minutes on 2 CPU cores;
SKFISHER_FAST=1 for a quick check). To spread the grid over a Dask cluster,
wrap ``search.fit`` in ``with joblib.parallel_backend("dask"):`` with a
``distributed.Client`` connected (see the user guide).

This example is not executed when the documentation is built (it takes a
few minutes). The figure below is not made by it either: ``skfisher compare``
saved it (``benchmarks/runs/digits/learning_curves.png``, the benchmark of
``benchmarks/RESULTS.md``), on the same digits with the default FisherMask
and every other strategy, mean ± std over 5 seeds.

.. image:: /../benchmarks/runs/digits/learning_curves.png
   :alt: test accuracy against labels of every strategy on digits
"""

# sphinx_gallery_thumbnail_path = "../benchmarks/runs/digits/learning_curves.png"

import os
import warnings

import numpy as np
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skfisher import ActiveLearningClassifier, FisherMask, ImageReshaper, ResNet18Classifier
from skfisher.active import aulc_score
from skfisher.datasets import load_digits_images

FAST = os.environ.get("SKFISHER_FAST") == "1"
X, y = load_digits_images(return_X_y=True)
rows = (X * 16).reshape(len(X), 64)  # digits as a table: 64 columns of 0..16
order = np.random.RandomState(0).permutation(len(X))[: 240 if FAST else 600]

pipe = make_pipeline(
    ImageReshaper((8, 8), scale=1 / 16),
    ActiveLearningClassifier(
        ResNet18Classifier(max_epochs=4 if FAST else 10, device="cpu"),
        FisherMask(fisher_samples=64 if FAST else 128),
        n_initial=20 if FAST else 30,
        n_instances=10 if FAST else 30,
        n_rounds=1 if FAST else 2,
        validation_fraction=0.2,
        random_state=0,
    ),
)
grid = {
    "activelearningclassifier__query_strategy__sparsity": (
        [0.001, 0.002] if FAST else [0.001, 0.002, 0.005, 0.01]
    ),
    "activelearningclassifier__query_strategy__lam": [1.0] if FAST else [0.1, 1.0],
}
search = GridSearchCV(
    pipe,
    grid,
    cv=2 if FAST else 3,
    scoring={"accuracy": "accuracy", "aulc": aulc_score},
    refit="accuracy",
    error_score=np.nan,
)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", FitFailedWarning)
    search.fit(rows[order], y[order])

res = search.cv_results_
print(f"{'sparsity':>9} {'lam':>5} {'accuracy':>17} {'AULC':>17} {'fit s':>6}")
for i, params in enumerate(res["params"]):
    print(
        f"{params['activelearningclassifier__query_strategy__sparsity']:>9} "
        f"{params['activelearningclassifier__query_strategy__lam']:>5} "
        f"{res['mean_test_accuracy'][i]:>8.3f} ± {res['std_test_accuracy'][i]:.3f} "
        f"{res['mean_test_aulc'][i]:>8.3f} ± {res['std_test_aulc'][i]:.3f} "
        f"{res['mean_fit_time'][i]:>6.1f}"
    )
if any(issubclass(w.category, FitFailedWarning) for w in caught):
    # sparsity=0.001 keeps fewer parameters than this net's output layer
    print(
        "NaN rows: fits failed; e.g. "
        + next(
            line.strip()
            for w in caught
            for line in str(w.message).splitlines()
            if "use sparsity" in line
        )
    )
print("best:", search.best_params_, f"accuracy {search.best_score_:.3f}")
