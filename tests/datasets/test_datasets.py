import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from skfisher import datasets
from skfisher.datasets import (
    load_cifar10,
    load_digits_images,
    load_fashion_mnist,
    make_imbalanced,
)


def test_digits_images():
    X, y = load_digits_images(return_X_y=True)
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.shape == (1797,) and set(y.tolist()) == set(range(10))
    bunch = load_digits_images()
    np.testing.assert_array_equal(bunch.data, X)


def write_idx(path, array, gz):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fashion_dir(tmp_path):
    rng = np.random.RandomState(0)
    data = {
        "train": (rng.randint(0, 256, (12, 28, 28)), rng.randint(0, 10, 12)),
        "t10k": (rng.randint(0, 256, (5, 28, 28)), rng.randint(0, 10, 5)),
    }
    for i, (split, (X, y)) in enumerate(data.items()):
        suffix = ".gz" if i == 0 else ""
        write_idx(tmp_path / f"{split}-images-idx3-ubyte{suffix}", X, i == 0)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", y, False)
    return tmp_path, data


def test_fashion_mnist_reads_plain_and_gzipped_idx(fashion_dir):
    path, data = fashion_dir
    X, y, X_test, y_test = load_fashion_mnist(path, return_X_y=True)
    assert X.shape == (12, 1, 28, 28) and X.dtype == np.uint8
    np.testing.assert_array_equal(X[:, 0], data["train"][0])
    np.testing.assert_array_equal(y, data["train"][1])
    np.testing.assert_array_equal(X_test[:, 0], data["t10k"][0])
    np.testing.assert_array_equal(y_test, data["t10k"][1])
    assert load_fashion_mnist(path).target_names[9] == "Ankle boot"


def test_fashion_mnist_missing_files_name_the_install_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)


def test_fashion_mnist_rejects_a_corrupt_file(fashion_dir):
    path, _ = fashion_dir
    (path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an idx file"):
        load_fashion_mnist(path)


@pytest.mark.skipif(
    not os.path.isdir(datasets.FASHION_MNIST_DEFAULT_PATH),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_fashion_mnist_from_the_debian_package():
    X, y, X_test, y_test = load_fashion_mnist(return_X_y=True)
    assert X.shape == (60000, 1, 28, 28) and X_test.shape == (10000, 1, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10


@pytest.fixture
def cifar_dir(tmp_path):
    rng = np.random.RandomState(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.randint(0, 256, (4, 3072)).astype(np.uint8)
        labels = rng.randint(0, 10, 4).tolist()
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": data, b"labels": labels}, f)
        batches[name] = (data, labels)
    return tmp_path, batches


def test_cifar10_reads_official_python_batches(cifar_dir):
    path, batches = cifar_dir
    bunch = load_cifar10(path)
    assert bunch.data.shape == (20, 3, 32, 32) and bunch.data_test.shape == (4, 3, 32, 32)
    first = batches["data_batch_1"][0][0]
    # rows are 1024 red, then green, then blue values, row-major
    assert bunch.data[0, 1, 0, 5] == first[1024 + 5]
    assert bunch.data[0, 2, 31, 31] == first[3071]
    np.testing.assert_array_equal(bunch.target[4:8], batches["data_batch_2"][1])
    np.testing.assert_array_equal(bunch.target_test, batches["test_batch"][1])


def test_cifar10_missing_batches(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        load_cifar10(tmp_path)


def test_make_imbalanced_counts_and_ratio():
    y = np.repeat(np.arange(4), 100)
    X = np.arange(400)[:, None]
    Xs, ys = make_imbalanced(X, y, class_counts={0: 10, 1: 100, 2: 10, 3: 10}, random_state=0)
    assert np.bincount(ys).tolist() == [10, 100, 10, 10]
    np.testing.assert_array_equal(y[Xs[:, 0]], ys)
    assert np.all(np.diff(Xs[:, 0]) > 0)
    _, yr = make_imbalanced(X, y, ratio=10, random_state=0)
    assert np.bincount(yr).tolist() == [100, 10, 10, 10]
    a = make_imbalanced(X, y, ratio=4, random_state=3)[0]
    b = make_imbalanced(X, y, ratio=4, random_state=3)[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one"),
        ({"ratio": 2, "class_counts": {0: 1}}, "exactly one"),
        ({"ratio": 0.5}, "ratio must be"),
        ({"class_counts": {7: 1}}, "absent from y"),
        ({"class_counts": {0: 101}}, r"\[0, 100\]"),
    ],
)
def test_make_imbalanced_errors(kwargs, message):
    y = np.repeat(np.arange(2), 100)
    with pytest.raises(ValueError, match=message):
        make_imbalanced(np.zeros((200, 1)), y, **kwargs)


class Exploit:
    """Unpickling this runs a shell command: what a crafted batch could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar10_refuses_a_pickle_that_would_run_code(cifar_dir, tmp_path_factory):
    path, _ = cifar_dir
    marker = tmp_path_factory.mktemp("exploit") / "pwned"
    # the exploit as a plain pickle would run it: the test's premise
    pickle.loads(pickle.dumps(Exploit(marker)))
    assert marker.exists()
    marker.unlink()
    payloads = {
        "data_batch_3": {b"data": Exploit(marker), b"labels": [0]},
        "test_batch": Exploit(marker),
    }
    for name, payload in payloads.items():
        (path / name).write_bytes(pickle.dumps(payload))
        with pytest.raises(
            ValueError,
            match=rf"{name} is not a readable .* names "
            r"(posix|os)\.system",
        ):
            load_cifar10(path)
        assert not marker.exists()
        (path / name).write_bytes(
            pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]})
        )


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_reads_arrays_of_any_pickle_protocol(cifar_dir, protocol):
    path, batches = cifar_dir
    data, labels = batches["data_batch_1"]
    (path / "data_batch_1").write_bytes(
        pickle.dumps({"data": data, "labels": labels}, protocol=protocol)
    )
    np.testing.assert_array_equal(load_cifar10(path).data[:4].reshape(4, -1), data)


@pytest.mark.parametrize(
    "content, message",
    [
        (lambda good: good[: len(good) // 2], "data_batch_2 is not a readable"),
        (lambda good: b"", "data_batch_2 is not a readable"),
        (lambda good: b"\x80\x04garbage", "data_batch_2 is not a readable"),
        (lambda good: pickle.dumps([1, 2]), r"data_batch_2 is not a CIFAR-10 python batch"),
        (
            lambda good: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}),
            r"data_batch_2: labels .* \[0, 10\]",
        ),
        (
            lambda good: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, -1]}),
            "data_batch_2: labels",
        ),
        (
            lambda good: pickle.dumps(
                {b"data": np.full((2, 3072), 256, np.int64), b"labels": [0, 1]}
            ),
            r"data_batch_2: pixel values .* 256",
        ),
        (
            lambda good: pickle.dumps(
                {b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}
            ),
            "data_batch_2: expected integer data",
        ),
        (
            lambda good: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}),
            "data_batch_2: 2 images but 1 labels",
        ),
    ],
)
def test_cifar10_corrupt_batches_name_the_file(cifar_dir, content, message):
    path, _ = cifar_dir
    good = (path / "data_batch_2").read_bytes()
    (path / "data_batch_2").write_bytes(content(good))
    with pytest.raises(ValueError, match=message):
        load_cifar10(path)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("train-images-idx3-ubyte.gz", lambda good: good[: len(good) // 2], "broken gzip"),
        ("train-images-idx3-ubyte.gz", lambda good: good[:-8] + b"\xff" * 8, "broken gzip"),
        ("train-images-idx3-ubyte.gz", lambda good: b"not gzip at all", "broken gzip"),
        ("t10k-labels-idx1-ubyte", lambda good: good[:-2], r"declares shape \(5,\) but holds 3"),
        ("t10k-labels-idx1-ubyte", lambda good: good[:6], "truncated inside its idx header"),
        (
            "t10k-labels-idx1-ubyte",
            lambda good: good[:-1] + b"\x0a",
            r"t10k-labels-idx1-ubyte: labels .* \[\d, 10\]",
        ),
    ],
)
def test_fashion_mnist_corrupt_files_name_the_file(fashion_dir, name, content, message):
    path, _ = fashion_dir
    (path / name).write_bytes(content((path / name).read_bytes()))
    with pytest.raises(ValueError, match=message) as info:
        load_fashion_mnist(path)
    assert name in str(info.value)


def test_fashion_mnist_shapes_are_checked(fashion_dir):
    path, _ = fashion_dir
    write_idx(path / "t10k-labels-idx1-ubyte", np.zeros(4), False)
    with pytest.raises(
        ValueError, match="t10k-images-idx3-ubyte holds 5 images, .*t10k-labels-idx1-ubyte 4 labels"
    ):
        load_fashion_mnist(path)
    write_idx(path / "t10k-images-idx3-ubyte", np.zeros((4, 28, 27)), False)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: expected images of 28x28"):
        load_fashion_mnist(path)


def test_load_split_names_its_python_argument_not_a_cli_flag():
    with pytest.raises(ValueError, match=r"load_split\('cifar10'\) needs data_dir") as info:
        datasets.load_split("cifar10")
    assert "--" not in str(info.value)
