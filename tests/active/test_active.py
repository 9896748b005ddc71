"""ActiveLearningClassifier: estimator checks, pipelines, grid search, Dask, determinism."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfisher import ActiveLearningClassifier, FisherMask, ImageReshaper, ResNet18Classifier
from skfisher.active import aulc, aulc_score
from skfisher.datasets import load_digits_images


def cheap(**params):
    """The meta-estimator around a fast linear model."""
    defaults = dict(
        estimator=LogisticRegression(),
        query_strategy="entropy",
        n_initial=6,
        n_instances=2,
        n_rounds=2,
        random_state=0,
    )
    return ActiveLearningClassifier(**{**defaults, **params})


@parametrize_with_checks([cheap()])
def test_sklearn_estimator_checks(estimator, check):
    # every applicable check passes: none is expected to fail
    check(estimator)


@pytest.fixture(scope="module")
def digit_rows():
    """Flat digits rows (0..16 values), as a table would hold them."""
    X, y = load_digits_images(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))[:240]
    return (X[order] * 16).reshape(len(order), 64), y[order]


def resnet_pipeline(**al_params):
    defaults = dict(n_initial=20, n_instances=10, n_rounds=1, random_state=0)
    return make_pipeline(
        ImageReshaper((8, 8), scale=1 / 16),
        ActiveLearningClassifier(
            ResNet18Classifier(max_epochs=4, device="cpu"),
            FisherMask(fisher_samples=64),
            **{**defaults, **al_params},
        ),
    )


def test_loop_labels_only_what_it_queries():
    X, y = load_iris(return_X_y=True)
    clf = cheap(n_initial=6, n_instances=5, n_rounds=3).fit(X, y)
    assert len(clf.labeled_indices_) == 21 == len(set(clf.labeled_indices_))
    assert [r["n_labels"] for r in clf.learning_curve_] == [6, 11, 16, 21]
    fresh = LogisticRegression().fit(X[clf.labeled_indices_], y[clf.labeled_indices_])
    np.testing.assert_allclose(clf.predict_proba(X), fresh.predict_proba(X))
    assert clf.score(X, y) == pytest.approx(fresh.score(X, y))
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


def test_nested_params_and_clone():
    clf = ActiveLearningClassifier(ResNet18Classifier(), FisherMask(), random_state=0)
    params = clf.get_params()
    assert params["query_strategy__sparsity"] == 0.002 and params["estimator__lr"] == 0.05
    clf.set_params(query_strategy__sparsity=0.01, estimator__lr=0.1)
    cloned = clone(clf)
    assert cloned.query_strategy.sparsity == 0.01 and cloned.estimator.lr == 0.1
    assert cloned.query_strategy is not clf.query_strategy


def test_fixed_random_state_gives_identical_runs(digit_rows):
    X, y = digit_rows
    runs = [resnet_pipeline().fit(X[:120], y[:120]) for _ in range(2)]
    al = [r[-1] for r in runs]
    np.testing.assert_array_equal(al[0].labeled_indices_, al[1].labeled_indices_)
    np.testing.assert_array_equal(runs[0].predict_proba(X[120:]), runs[1].predict_proba(X[120:]))
    # the unset random_states were seeded, the user's estimators left alone
    assert al[0].estimator_.random_state is not None
    assert al[0].query_strategy_.random_state is not None
    assert al[0].estimator.random_state is None


def test_grid_search_over_sparsity_in_a_pipeline(digit_rows):
    X, y = digit_rows
    search = GridSearchCV(
        resnet_pipeline(),
        {"activelearningclassifier__query_strategy__sparsity": [0.002, 0.005]},
        cv=2,
    )
    search.fit(X[:160], y[:160])
    assert search.cv_results_["mean_test_score"].shape == (2,)
    assert search.best_estimator_[-1].query_strategy_.sparsity in (0.002, 0.005)
    assert search.predict(X[160:]).shape == (80,)


def test_aulc_and_its_scorer():
    assert aulc([10, 20, 30], [0.5, 0.7, 0.9]) == pytest.approx(0.7)
    assert aulc([10, 30], [0.2, 0.4]) == pytest.approx(0.3)
    assert aulc([5], [0.8]) == 0.8
    with pytest.raises(ValueError, match="strictly increasing"):
        aulc([10, 10], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        aulc([1, 2], [0.1, 1.2])
    X, y = load_iris(return_X_y=True)
    scores = cross_validate(
        cheap(validation_fraction=0.25),
        X,
        y,
        cv=3,
        scoring={"accuracy": "accuracy", "aulc": aulc_score},
    )
    assert np.all((scores["test_aulc"] > 0) & (scores["test_aulc"] <= 1))
    with pytest.raises(ValueError, match="validation_fraction"):
        aulc_score(cheap().fit(X, y))
    with pytest.raises(ValueError, match="'n_labels' parameter of aulc must be an array-like"):
        aulc(10, [0.5])
    with pytest.raises(ValueError, match="'estimator' parameter of aulc_score"):
        aulc_score("not an estimator")


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {"n_initial": 100, "n_rounds": 30, "n_instances": 2},
            "n_rounds \\* n_instances = 160 exceeds the 150 rows",
        ),
        ({"n_initial": 2}, "smaller than the 3 classes"),
        ({"query_strategy": "coreset"}, "query_strategy"),
        ({"n_instances": 0}, "'n_instances' parameter"),
        ({"n_rounds": -1}, "'n_rounds' parameter"),
        ({"n_rounds": 1.5}, "'n_rounds' parameter"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
    ],
)
def test_bad_settings_raise_before_anything_is_fitted(params, message):
    X, y = load_iris(return_X_y=True)
    clf = cheap(**params)
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)
    assert not hasattr(clf, "estimator_")
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_image_reshaper():
    rows = np.arange(2 * 12, dtype=np.uint8).reshape(2, 12)
    out = ImageReshaper((3, 2, 2)).fit_transform(rows)
    assert out.shape == (2, 3, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[1, 2, 1, 1], 23 / 255)
    assert ImageReshaper((3, 4), scale=2).fit_transform(rows.astype(float))[0, 0, 0, 1] == 2
    with pytest.raises(ValueError, match=r"X has 12 values per row but shape=\(3, 3\) needs 9"):
        ImageReshaper((3, 3)).fit(rows)
    with pytest.raises(ValueError, match=r"^shape must be \(height, width\)"):
        ImageReshaper((8, 0)).fit(rows)
    with pytest.raises(ValueError, match="X has 6 features, but ImageReshaper is expecting 12"):
        ImageReshaper((3, 4)).fit(rows).transform(rows[:, :6])
    # -1 is inferred from the columns, as in numpy.reshape
    assert ImageReshaper((1, -1)).fit_transform(rows).shape == (2, 1, 1, 12)
    assert ImageReshaper((3, -1, 2)).fit(rows).image_shape_ == (3, 2, 2)
    with pytest.raises(ValueError, match=r"^shape=\(5, -1\) cannot hold 12 values"):
        ImageReshaper((5, -1)).fit(rows)
    with pytest.raises(ValueError, match="'scale' parameter"):
        ImageReshaper((3, 4), scale=np.nan).fit(rows)


def test_threads_do_not_disturb_each_others_seeds(digit_rows):
    """Fits in parallel threads initialise as in serial (the seeding is locked)."""
    from joblib import Parallel, delayed

    X, y = digit_rows

    def fit(seed):
        net = ResNet18Classifier(max_epochs=2, random_state=seed, device="cpu", image_shape=(8, 8))
        return net.fit(X[:60] / 16, y[:60]).predict_proba(X[60:80] / 16)

    serial = [fit(s) for s in (1, 2, 3, 4)]
    threaded = Parallel(n_jobs=4, backend="threading")(delayed(fit)(s) for s in (1, 2, 3, 4))
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)


def test_grid_search_on_a_dask_cluster_equals_the_local_run(digit_rows):
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_backend

    X, y = digit_rows
    grid = {"activelearningclassifier__query_strategy__sparsity": [0.002, 0.005]}
    local = GridSearchCV(resnet_pipeline(), grid, cv=2).fit(X[:120], y[:120])
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client, parallel_backend("dask"):
        remote = GridSearchCV(resnet_pipeline(), grid, cv=2, n_jobs=-1).fit(X[:120], y[:120])
        assert len(client.scheduler_info()["workers"]) == 2
    for key in ("split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(local.cv_results_[key], remote.cv_results_[key])


@pytest.fixture(scope="module")
def digit_images():
    X, y = load_digits_images(return_X_y=True)
    order = np.random.RandomState(1).permutation(len(X))[:200]
    return X[order], y[order]


def test_n_initial_33_and_65_labels_fit(digit_images):
    """33 and 65 labeled images leave one image after the 32-image batches."""
    X, y = digit_images
    clf = ActiveLearningClassifier(
        ResNet18Classifier(max_epochs=1, device="cpu"),
        "entropy",
        n_initial=33,
        n_instances=32,
        n_rounds=1,
        random_state=0,
    ).fit(X[:120], y[:120])
    assert [r["n_labels"] for r in clf.learning_curve_] == [33, 65]


def test_modal_teach_after_a_15_image_query(digit_images):
    from modAL.models import ActiveLearner

    X, y = digit_images
    learner = ActiveLearner(
        estimator=ResNet18Classifier(max_epochs=1, random_state=0, device="cpu"),
        query_strategy=FisherMask(fisher_samples=32, random_state=0),
        X_training=X[:50],
        y_training=y[:50],
    )
    idx, _ = learner.query(X[50:], n_instances=15)
    learner.teach(X[50:][idx], y[50:][idx])  # 65 rows
    assert len(learner.y_training) == 65
    assert learner.predict(X[:5]).shape == (5,)


def test_modal_teach_only_new_needs_warm_start(digit_images):
    """``teach(only_new=True)`` calls ``fit`` on the new rows alone: a net that
    retrains from scratch forgets the earlier rows (and their classes), while
    ``warm_start=True`` trains on from the current weights."""
    from modAL.models import ActiveLearner

    X, y = digit_images
    new = np.flatnonzero(np.isin(y[60:], [0, 1, 2]))[:15] + 60  # three classes only

    def taught(warm_start):
        net = ResNet18Classifier(max_epochs=3, random_state=0, device="cpu", warm_start=warm_start)
        learner = ActiveLearner(estimator=net, X_training=X[:60], y_training=y[:60])
        module = learner.estimator.module_
        learner.teach(X[new], y[new], only_new=True)
        return learner.estimator, module

    cold, module = taught(False)
    np.testing.assert_array_equal(cold.classes_, [0, 1, 2])  # forgot seven classes
    warm, module = taught(True)
    np.testing.assert_array_equal(warm.classes_, np.arange(10))
    assert warm.module_ is module and len(warm.history) == 6
