"""Pools read where they are: memory-mapped, h5py and Dataset pools give the picks of
the same rows in memory, converted one forward batch at a time."""

import h5py
import numpy as np
import pytest
import torch

from skfisher import Bait, FisherMask, ResNet18Classifier
from skfisher.datasets import DatasetRows
from skfisher.strategies import Badge, MarginSampling
from skfisher.utils._images import check_images
from skfisher.utils._pools import PoolRows


@pytest.fixture(scope="module")
def pools(digits, tmp_path_factory):
    """The same 120 uint8 rows as an array, a memmap, an h5py dataset and a Dataset."""
    X = np.round(digits[0][100:220] * 255).astype(np.uint8)
    folder = tmp_path_factory.mktemp("pools")
    np.save(folder / "pool.npy", X)
    h5 = h5py.File(folder / "pool.h5", "w")
    h5.create_dataset("X", data=X)
    data = torch.utils.data.TensorDataset(torch.from_numpy(X), torch.zeros(len(X)))
    yield {
        "array": X,
        "memmap": np.load(folder / "pool.npy", mmap_mode="r"),
        "h5py": h5["X"],
        "dataset": DatasetRows(data),
    }
    h5.close()


STRATEGIES = [
    FisherMask(sparsity=0.01, fisher_samples=20, max_candidates=60, random_state=0),
    Bait(random_state=0, forward_batch_size=50),
    Badge(random_state=0),
    MarginSampling(),
]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: type(s).__name__)
def test_every_kind_of_pool_gives_the_in_memory_picks(fitted_net, pools, strategy):
    expected = strategy(fitted_net, pools["array"], n_instances=5)
    for kind in ("memmap", "h5py", "dataset"):
        got = strategy(fitted_net, pools[kind], n_instances=5)
        np.testing.assert_array_equal(got[0], expected[0], err_msg=kind)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-12, err_msg=kind)


def test_rows_are_converted_a_forward_batch_at_a_time(monkeypatch, fitted_net, pools):
    seen = []
    convert = ResNet18Classifier.transform_images

    def spy(self, X):
        seen.append(len(X))
        return convert(self, X)

    monkeypatch.setattr(ResNet18Classifier, "transform_images", spy)
    Bait(forward_batch_size=32, random_state=0)(fitted_net, pools["memmap"], n_instances=3)
    assert sum(seen) >= 120 and max(seen) <= 32  # the pool went through, never whole


def test_pool_rows_view_reads_the_rows_it_names(pools):
    rows = PoolRows(pools["h5py"], lambda b: check_images(b))
    whole = check_images(pools["array"])
    assert rows.shape == whole.shape and len(rows) == 120
    np.testing.assert_array_equal(rows[10:20], whole[10:20])
    view = rows[np.array([5, 7, 100, 101])]
    assert isinstance(view, PoolRows) and len(view) == 4
    np.testing.assert_array_equal(view[1:3], whole[[7, 100]])
    np.testing.assert_array_equal(np.asarray(view[[0, 3]]), whole[[5, 101]])


def test_dataset_rows_take_the_image_of_each_item():
    images = torch.arange(6 * 4, dtype=torch.float32).reshape(6, 1, 2, 2)
    rows = DatasetRows(torch.utils.data.TensorDataset(torch.zeros(6), images), item=1)
    assert rows.shape == (6, 1, 2, 2) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows[2:4], images[2:4].numpy())
    assert rows[4:4].shape == (0, 1, 2, 2)
    with pytest.raises(ValueError, match="the dataset is empty"):
        _ = DatasetRows(torch.utils.data.TensorDataset(torch.zeros(0))).shape
