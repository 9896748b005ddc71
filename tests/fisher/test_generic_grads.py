"""Per-sample gradients of any network (torch.func path, mixed with the hooks)
against a plain autograd loop, and FisherMask / BAIT / BADGE on plain skorch nets."""

import inspect

import numpy as np
import pytest
import torch
from _reference import autograd_reference
from modAL.models import ActiveLearner
from sklearn.datasets import make_classification
from skorch import NeuralNetClassifier
from torch import nn

from skfisher import FisherMask, badge, bait, fisher_mask
from skfisher.fisher import ParamLayout, build_mask, fisher_diagonal, masked_embeddings
from skfisher.fisher._diagonal import _class_sampler
from skfisher.fisher._funcgrad import func_class_grads, func_sum_sq_grads
from skfisher.fisher._persample import hook_params


class TinyTransformer(nn.Module):
    """Patch embedding, learned positions, one pre-norm encoder layer
    (LayerNorm, attention, GELU), mean pooling, LayerNorm, linear head."""

    def __init__(self, n_classes=3, dim=8, patch=4, side=8):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, patch, patch)
        self.pos = nn.Parameter(0.1 * torch.randn((side // patch) ** 2, dim))
        self.encoder = nn.TransformerEncoderLayer(
            dim,
            2,
            16,
            dropout=0.1,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.norm(self.encoder(tokens)).mean(1))


def groupnorm_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.GroupNorm(2, 4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, groups=2),
        nn.GroupNorm(2, 4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3, bias=False),
    )


def conv1d_net():
    return nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1),
        nn.BatchNorm1d(4),
        nn.ReLU(),
        nn.Conv1d(4, 4, 3, dilation=2),
        nn.ReLU(),
        nn.AdaptiveMaxPool1d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def tabular_mlp(n_features=6):
    return nn.Sequential(
        nn.Linear(n_features, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(8, 8),
        nn.LayerNorm(8),
        nn.GELU(),
        nn.Linear(8, 3),
    )


def _randomise_statistics(model):
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
        if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model


ARCHITECTURES = {
    "transformer": (TinyTransformer, (1, 8, 8)),
    "groupnorm_cnn": (groupnorm_cnn, (1, 6, 6)),
    "conv1d": (conv1d_net, (2, 9)),
    "mlp": (tabular_mlp, (6,)),
}


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def case(request):
    build, shape = ARCHITECTURES[request.param]
    torch.manual_seed(0)
    model = _randomise_statistics(build()).double().eval()
    X = torch.randn((5,) + shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    J, p = autograd_reference(model, X)
    return request.param, model, X, J, p


def test_fisher_diagonal_matches_autograd(case):
    _, model, X, J, p = case
    expected = (p[:, :, None] * J**2).sum(1).mean(0)
    torch.testing.assert_close(fisher_diagonal(model, X, forward_batch_size=2), expected)


def test_sampled_fisher_diagonal_matches_autograd(case):
    """Both paths square the class drawn for each row (the draws of
    ``random_state`` in row order, whatever the batches)."""
    _, model, X, J, p = case
    drawn = _class_sampler(np.random.RandomState(0).random_sample(len(X)))(p)
    expected = (J[torch.arange(len(X)), drawn] ** 2).mean(0)
    got = fisher_diagonal(model, X, forward_batch_size=2, method="sampled", random_state=0)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("weighting", ["fisher", "unweighted"])
def test_embeddings_match_autograd(case, weighting):
    _, model, X, J, p = case
    n_params = J.shape[2]
    indices = np.sort(np.random.RandomState(0).choice(n_params, n_params // 3, replace=False))
    got = masked_embeddings(
        model, X, indices, weighting=weighting, forward_batch_size=2, dtype=torch.float64
    )
    expected = J[:, :, indices]
    if weighting == "fisher":
        expected = expected * p.sqrt()[:, :, None]
    torch.testing.assert_close(got, expected)


def test_models_mix_both_paths(case):
    name, model, X, _, _ = case
    layout = ParamLayout(model)
    hooked = hook_params(model, layout, X[:1])
    generic = set(range(len(layout.names))) - hooked
    assert hooked and generic
    if name == "transformer":
        # attention's output projection is a Linear whose forward never runs
        assert layout.names.index("encoder.self_attn.out_proj.weight") in generic
        assert layout.names.index("patch.weight") in hooked
        assert layout.names.index("encoder.linear1.weight") in hooked


def test_generic_path_chunks_rows():
    torch.manual_seed(0)
    model = tabular_mlp().double().eval()
    X = torch.randn(7, 6, dtype=torch.float64)
    names = ["1.weight", "5.bias"]
    whole = func_class_grads(model, X, names, [None, None])
    # one row per chunk: the Jacobian bound is below one row's size
    chunked = func_class_grads(model, X, names, [None, None], max_elements=1)
    for a, b in zip(whole, chunked):
        assert a.shape == (7, 3, 8)
        torch.testing.assert_close(a, b)


def _per_param(flat, layout):
    """A flat (..., P) tensor as its per-parameter (..., numel_j) parts."""
    return [flat[..., o : o + n] for o, n in zip(layout.offsets, layout.sizes)]


@pytest.mark.parametrize("max_elements", [2**24, 1])  # one chunk; one row a chunk
def test_generic_sums_of_squares_match_autograd(case, max_elements):
    _, model, X, J, p = case
    layout = ParamLayout(model)
    got = func_sum_sq_grads(model, X, layout.names, max_elements=max_elements)
    expected = _per_param((p[:, :, None] * J**2).sum((0, 1)), layout)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("max_elements", [2**24, 1])
def test_generic_sums_of_squares_of_drawn_classes_match_autograd(case, max_elements):
    """Each row's drawn class is squared alone, the same draw in every chunking."""
    _, model, X, J, p = case
    layout = ParamLayout(model)
    uniform = (np.arange(len(X)) + 0.5) / len(X)  # spread over the CDF
    drawn = _class_sampler(uniform)(p)
    assert len(set(drawn.tolist())) > 1  # the draw picks more than one class here
    got = func_sum_sq_grads(
        model, X, layout.names, classes=_class_sampler(uniform), max_elements=max_elements
    )
    expected = _per_param((J[torch.arange(len(X)), drawn] ** 2).sum(0), layout)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


def test_generic_gradients_have_no_flag_that_changes_their_shape():
    assert "sum_squares" not in inspect.signature(func_class_grads).parameters


@pytest.mark.parametrize("tie", ["module_reused", "weight_shared"])
def test_tied_weights_take_the_generic_path(tie):
    torch.manual_seed(0)
    a, b = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
    if tie == "module_reused":
        b = a
    else:
        b.weight = a.weight
    model = nn.Sequential(a, nn.Tanh(), b, nn.Tanh(), nn.Linear(4, 3)).double().eval()
    X = torch.randn(4, 4, dtype=torch.float64)
    layout = ParamLayout(model)
    assert hook_params(model, layout, X[:1]) == {1, 2}  # not the tied weight
    J, p = autograd_reference(model, X)
    torch.testing.assert_close(fisher_diagonal(model, X), (p[:, :, None] * J**2).sum(1).mean(0))


def test_batchnorm_without_running_stats_is_a_clear_error():
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.BatchNorm2d(2, track_running_stats=False),
        nn.Flatten(),
        nn.Linear(8, 3),
    ).eval()
    X = torch.randn(3, 1, 4, 4)
    with pytest.raises(ValueError, match="'1' has track_running_stats=False"):
        fisher_diagonal(model, X)


# ---- plain skorch classifiers -------------------------------------------------


class MLP(nn.Module):
    def __init__(self, n_features=10, n_classes=3, softmax=False):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 16), nn.LayerNorm(16), nn.ReLU())
        self.out = nn.Linear(16, n_classes)
        self.post = nn.Softmax(dim=1) if softmax else nn.Identity()

    def forward(self, x):
        return self.post(self.out(self.body(x)))


@pytest.fixture(scope="module")
def tabular():
    X, y = make_classification(
        n_samples=120, n_features=10, n_informative=6, n_classes=3, random_state=0
    )
    return X.astype(np.float32), y.astype(np.int64)


def _skorch_net(**params):
    defaults = dict(
        module=MLP,
        criterion=nn.CrossEntropyLoss,
        max_epochs=5,
        lr=0.1,
        train_split=None,
        verbose=0,
    )
    torch.manual_seed(0)
    return NeuralNetClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def skorch_net(tabular):
    X, y = tabular
    return _skorch_net().fit(X[:40], y[:40])


def test_fisher_mask_queries_through_modal(tabular):
    X, y = tabular
    strategy = FisherMask(sparsity=0.4, random_state=0)
    learner = ActiveLearner(
        estimator=_skorch_net(), query_strategy=strategy, X_training=X[:20], y_training=y[:20]
    )
    pool = np.arange(20, 120)
    for _ in range(2):
        idx, rows = learner.query(X[pool], n_instances=4)
        assert len(set(idx.tolist())) == 4 and np.array_equal(rows, X[pool[idx]])
        learner.teach(X[pool[idx]], y[pool[idx]])
        pool = np.delete(pool, idx)
    # the output layer (found automatically) is whole in the mask; LayerNorm
    # entries (generic path) compete with the hooked Linear entries
    layers = strategy.last_query_["mask_layers"]
    assert layers["out.weight"] == 16 * 3 and layers["out.bias"] == 3
    n_params = sum(p.numel() for p in learner.estimator.module_.parameters())
    assert strategy.last_query_["mask_size"] == int(0.4 * n_params)


def test_output_layer_is_found_and_can_be_given(skorch_net, tabular):
    X, _ = tabular
    auto = FisherMask(mask="output")
    auto(skorch_net, X[40:70], n_instances=2)
    assert auto.last_query_["mask_layers"] == {"out.weight": 48, "out.bias": 3}
    given = FisherMask(mask="output", output_layer="body.0")
    given(skorch_net, X[40:70], n_instances=2)
    assert given.last_query_["mask_layers"] == {"body.0.weight": 160, "body.0.bias": 16}
    with pytest.raises(ValueError, match="output_layer='head' names no module"):
        FisherMask(output_layer="head")(skorch_net, X[40:70])


def test_bait_and_badge_on_a_plain_skorch_net(skorch_net, tabular):
    X, _ = tabular
    for strategy in (bait, badge):
        idx, _ = strategy(skorch_net, X[40:100], n_instances=5, random_state=0)
        assert idx.shape == (5,) and len(set(idx.tolist())) == 5


def test_probabilities_instead_of_logits_are_a_clear_error(tabular):
    X, y = tabular
    net = _skorch_net(module__softmax=True, criterion=nn.NLLLoss, max_epochs=1).fit(X[:30], y[:30])
    for strategy in (fisher_mask, bait, badge):
        with pytest.raises(ValueError, match="returns probabilities"):
            strategy(net, X[40:60], n_instances=2)


class BatchMixer(nn.Module):
    """Subtracts the batch mean: rows are not independent."""

    def __init__(self):
        super().__init__()
        self.out = nn.Linear(10, 3)

    def forward(self, x):
        return self.out(x - x.mean(0))


def test_modules_that_mix_rows_are_a_clear_error(tabular):
    X, y = tabular
    net = _skorch_net(module=BatchMixer, max_epochs=1).fit(X[:30], y[:30])
    with pytest.raises(ValueError, match="mixes the rows of a batch"):
        fisher_mask(net, X[40:60], n_instances=2)


def test_no_linear_output_layer_is_a_clear_error(tabular):
    X, y = tabular
    module = nn.Sequential(nn.Linear(10, 3), nn.Tanh())
    net = _skorch_net(module=module, max_epochs=1).fit(X[:30], y[:30])
    with pytest.raises(ValueError, match="pass output_layer"):
        bait(net, X[40:60], n_instances=2)
    idx, _ = bait(net, X[40:60], n_instances=2, output_layer="0")
    assert idx.shape == (2,)


def test_fisher_diagonal_of_chosen_parameters(case):
    _, model, X, J, p = case
    layout = ParamLayout(model)
    names = layout.names[1::2]
    got = fisher_diagonal(model, X, names=names)
    expected = (p[:, :, None] * J**2).sum(1).mean(0)
    for j, name in enumerate(layout.names):
        part = slice(layout.offsets[j], layout.offsets[j] + layout.sizes[j])
        torch.testing.assert_close(got[part], expected[part] if name in names else 0 * got[part])
    with pytest.raises(ValueError, match="unknown parameters"):
        fisher_diagonal(model, X, names=["nope"])


def test_mask_leaves_frozen_parameters_out():
    model = tabular_mlp()
    for p in model[0].parameters():
        p.requires_grad_(False)
    layout = ParamLayout(model)
    diag = torch.arange(layout.n_params, 0, -1, dtype=torch.float64)  # favours layer 0
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    kept = build_mask(diag, layout, 0.5, output_layer="7", trainable_only=True)
    assert len(kept) == int(0.5 * n_trainable)
    frozen = set(range(layout.offsets[2]))  # 0.weight, 0.bias
    assert not frozen & set(kept.tolist())
    everything = build_mask(diag, layout, 0.5, output_layer="7")
    assert len(everything) == int(0.5 * layout.n_params) and frozen & set(everything.tolist())
