"""When to stop labeling: the agreement of consecutive rounds' models.

"Stabilizing predictions" (Bloodgood and Vijay-Shanker, 2009) stops active
learning once the models of consecutive rounds predict nearly the same labels
on a fixed *stop set* of unlabeled examples: Cohen's kappa between their
predictions stays above about 0.99. Here the stop set is a sample of the pool
images that were not labeled at ``create``, chosen by a hash of each path and
the project's ``random_state``: the same images every round, and the same
ones after images are added to the pool, but for the new ones that hash lower.
"""

import hashlib

import numpy as np

from ._model import restore_model

__all__ = [
    "STOP_KAPPA",
    "agreement_advice",
    "cohen_kappa",
    "model_agreement",
    "project_agreement",
    "stop_set",
]

#: The usual threshold of the stabilizing-predictions rule, and how many
#: consecutive rounds must stay above it.
STOP_KAPPA, STOP_ROUNDS = 0.99, 3


def stop_set(paths, labels, random_state, n_sample):
    """Pool rows of the stop set: up to ``n_sample`` images not labeled at
    ``create`` (batch 0), those whose hash with ``random_state`` is smallest,
    in the pool's order."""
    initial = {p for p, (_, batch) in labels.items() if batch == 0}

    def key(i):
        return hashlib.sha256(f"{random_state}:{paths[i]}".encode()).hexdigest()

    rows = sorted((i for i, p in enumerate(paths) if p not in initial), key=key)[:n_sample]
    return np.array(sorted(rows), dtype=np.int64)


def cohen_kappa(a, b):
    """Cohen's kappa of two label arrays; 1.0 when they agree everywhere
    (kappa is 0 / 0 there when both predict one class only)."""
    from sklearn.metrics import cohen_kappa_score

    a, b = np.asarray(a), np.asarray(b)
    if np.array_equal(a, b):
        return 1.0
    return float(cohen_kappa_score(a, b))


def model_agreement(folder, config, *, n_sample, device, since=0):
    """Cohen's kappa between each two consecutive trained rounds' models on the stop set.

    Parameters
    ----------
    folder : ProjectFolder
    config : dict
        ``project.json``.
    n_sample : int
        Size of the stop set.
    device : str
    since : int, default=0
        Only pairs whose later round is after round ``since``.

    Returns
    -------
    agreement : list of dict
        ``round``, ``previous`` (the round compared with), ``kappa``,
        ``agree`` (the fraction of equal predictions) and ``n_sample``.
    """
    trained = [r["round"] for r in config["rounds"] if r.get("model")]
    pairs = [(a, b) for a, b in zip(trained, trained[1:]) if b > since]
    if not pairs:
        return []
    X, paths = folder.read_pool()
    rows = stop_set(paths, folder.read_labels(), config["random_state"], n_sample)
    images = X[rows]
    predicted = {}

    def predict(number):
        if number not in predicted:
            net = restore_model(folder, config, number, device)
            predicted[number] = np.asarray(net.predict(images)).astype(str)
        return predicted[number]

    return [
        {
            "round": b,
            "previous": a,
            "kappa": cohen_kappa(predict(a), predict(b)),
            "agree": float(np.mean(predict(a) == predict(b))),
            "n_sample": len(rows),
        }
        for a, b in pairs
    ]


def project_agreement(folder, *, n_sample, device, since):
    """:meth:`LabelingProject.agreement`: the pairs and the advice."""
    rounds = model_agreement(
        folder, folder.read_config(), n_sample=n_sample, device=device, since=since
    )
    return {"rounds": rounds, "advice": agreement_advice(rounds)}


def agreement_advice(agreement, threshold=STOP_KAPPA, n_rounds=STOP_ROUNDS):
    """A plain sentence on what the agreement says about stopping."""
    if not agreement:
        return (
            "The agreement shows once two rounds have trained a model: it compares their "
            "predictions on a fixed sample of unlabeled images."
        )
    last = agreement[-1]
    above = 0
    for a in reversed(agreement):
        if a["kappa"] < threshold:
            break
        above += 1
    said = (
        f"The models of rounds {last['previous']} and {last['round']} agree with kappa = "
        f"{last['kappa']:.3f} on {last['n_sample']} unlabeled images. "
    )
    if above >= n_rounds:
        return said + (
            f"Kappa has stayed above {threshold} for the last {above} rounds: the predictions "
            "have stabilized, and more labels are unlikely to change the model much. You can stop."
        )
    if above:
        return said + (
            f"That is above {threshold}; the usual rule is to stop once it stays there "
            f"({n_rounds} rounds in a row; {above} so far)."
        )
    return said + (
        f"Keep labeling: the usual rule is to stop once kappa stays above about {threshold} "
        f"({n_rounds} rounds in a row)."
    )
