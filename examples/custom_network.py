"""
FisherMask with your own network
================================

Any skorch classifier whose module returns logits.

Two modAL loops with plain ``skorch.NeuralNetClassifier`` nets:

* a small vision transformer (patch embedding, attention, LayerNorm, GELU) on
  scikit-learn's 8x8 digits;
* an MLP (BatchNorm1d, LayerNorm) on tabular rows from ``make_classification``.

The output layer is found automatically (the last Linear layer that produces
the logits). Layers the fast per-sample hooks do not cover (attention,
LayerNorm, BatchNorm1d, learned position embeddings) get their per-sample
gradients from torch.func, so their entries compete for the mask as well.

Run: ``python examples/custom_network.py`` (SKFISHER_FAST=1 for a quick check).

This example is not executed when the documentation is built (it takes a
few minutes); no benchmark measures custom networks, so it has no figure.
"""

import os

import numpy as np
import torch
from modAL.models import ActiveLearner
from sklearn.datasets import load_digits, make_classification
from skorch import NeuralNetClassifier
from torch import nn

from skfisher import FisherMask

FAST = os.environ.get("SKFISHER_FAST") == "1"


class TinyViT(nn.Module):
    """Patches of 2x2 pixels -> one pre-norm transformer layer -> mean pool -> logits."""

    def __init__(self, n_classes=10, dim=32, patch=2, side=8):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, patch, patch)
        self.pos = nn.Parameter(0.02 * torch.randn((side // patch) ** 2, dim))
        self.encoder = nn.TransformerEncoderLayer(
            dim, 4, 2 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.norm(self.encoder(tokens)).mean(1))


class MLP(nn.Module):
    def __init__(self, n_features=20, n_classes=3, hidden=64):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.LayerNorm(hidden),
            nn.ReLU(),
        )
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.out(self.body(x))


def run_loop(name, module, X, y, *, sparsity, n_start, n_pool, n_query, rounds, epochs):
    order = np.random.RandomState(0).permutation(len(X))
    train, pool, test = order[:n_start], order[n_start : n_start + n_pool], order[-300:]
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=3e-3,
        max_epochs=epochs,
        batch_size=32,
        train_split=None,
        verbose=0,
    )
    strategy = FisherMask(sparsity=sparsity, fisher_samples=256, random_state=0)
    learner = ActiveLearner(net, query_strategy=strategy, X_training=X[train], y_training=y[train])
    print(f"{name}: {n_start} labels, accuracy {learner.score(X[test], y[test]):.3f}")
    X_pool, y_pool = X[pool], y[pool]
    for round_ in range(rounds):
        idx, X_new = learner.query(X_pool, n_instances=n_query)
        learner.teach(X_new, y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, axis=0), np.delete(y_pool, idx)
        layers = strategy.last_query_["mask_layers"]
        top = sorted(layers, key=layers.get, reverse=True)[:3]
        print(
            f"{name} round {round_ + 1}: {len(learner.y_training)} labels, accuracy "
            f"{learner.score(X[test], y[test]):.3f} (mask {strategy.last_query_['mask_size']}, "
            f"most entries in {top})"
        )


digits = load_digits()
X_img = (digits.images / 16.0).astype(np.float32)[:, None]  # (n, 1, 8, 8)
y_img = digits.target.astype(np.int64)
run_loop(
    "transformer",
    TinyViT,
    X_img,
    y_img,
    sparsity=0.1,
    n_start=50,
    n_pool=300 if FAST else 1000,
    n_query=10 if FAST else 40,
    rounds=1 if FAST else 4,
    epochs=5 if FAST else 30,
)

X_tab, y_tab = make_classification(
    n_samples=1500, n_features=20, n_informative=8, n_classes=3, random_state=0
)
run_loop(
    "mlp",
    MLP,
    X_tab.astype(np.float32),
    y_tab.astype(np.int64),
    sparsity=0.1,
    n_start=30,
    n_pool=300 if FAST else 1000,
    n_query=10 if FAST else 40,
    rounds=1 if FAST else 4,
    epochs=10 if FAST else 40,
)
