"""Own data: image folders (ImageFolder layout) and .npz files."""

import os
import warnings

import numpy as np
import pytest
from PIL import Image

from skfisher.datasets import (
    ImageReadWarning,
    load_image_folder,
    load_npz,
    load_own_data,
    load_own_split,
    read_images,
)


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def folder(tmp_path):
    """Two classes of 6x5 greyscale PNGs; random pixels, known exactly."""
    rng = np.random.RandomState(0)
    pixels = {}
    for name in ("cat", "dog"):
        for i in range(3):
            a = rng.randint(0, 256, (6, 5), dtype=np.uint8)
            save(tmp_path / "data" / name / f"{i}.png", a)
            pixels[str(tmp_path / "data" / name / f"{i}.png")] = a
    return tmp_path / "data", pixels


def test_image_folder_reads_pixels_classes_and_paths(folder):
    root, pixels = folder
    (root / ".hidden").mkdir()
    save(root / ".hidden" / "x.png", np.zeros((6, 5), np.uint8))
    save(root / "stray.png", np.zeros((6, 5), np.uint8))  # not in a class folder
    X, y, paths = load_image_folder(root, return_X_y=True)
    assert X.shape == (6, 1, 6, 5) and X.dtype == np.uint8
    assert y.tolist() == ["cat"] * 3 + ["dog"] * 3
    assert paths.tolist() == sorted(pixels)
    for x, p in zip(X, paths):
        np.testing.assert_array_equal(x[0], pixels[p])
    bunch = load_image_folder(root)
    assert bunch.target_names.tolist() == ["cat", "dog"] and bunch.skipped == []


def test_unlabeled_folder_is_searched_recursively(folder):
    root, pixels = folder
    X, y, paths = load_image_folder(root, labeled=False, return_X_y=True)
    assert y is None and paths.tolist() == sorted(pixels)


def test_mixed_sizes_need_image_size(folder):
    root, _ = folder
    save(root / "dog" / "big.png", np.zeros((12, 10), np.uint8))
    with pytest.raises(ValueError, match=r"differ in size: 6x5 .*; 12x10 .*image_size"):
        load_image_folder(root)
    X, _, _ = load_image_folder(root, image_size=(4, 3), return_X_y=True)
    assert X.shape == (7, 1, 4, 3)
    X, _, _ = load_image_folder(root, image_size=8, return_X_y=True)
    assert X.shape == (7, 1, 8, 8)


def test_grey_and_rgb_together_read_as_rgb(folder):
    root, pixels = folder
    rgb = np.random.RandomState(1).randint(0, 256, (6, 5, 3), dtype=np.uint8)
    save(root / "dog" / "colour.jpg", rgb)  # a JPEG: lossy, only its shape is known
    X, y, paths = load_image_folder(root, return_X_y=True)
    assert X.shape == (7, 3, 6, 5)
    grey = paths.tolist().index(sorted(pixels)[0])
    for c in range(3):  # greyscale images get three equal channels
        np.testing.assert_array_equal(X[grey, c], pixels[sorted(pixels)[0]])
    X1, _, _ = load_image_folder(root, channels=1, return_X_y=True)
    assert X1.shape == (7, 1, 6, 5)


def test_corrupt_missing_and_unreadable_files_are_listed_and_skipped(folder):
    root, pixels = folder
    (root / "cat" / "broken.png").write_bytes(b"not an image")
    good = (root / "dog" / "0.png").read_bytes()
    (root / "dog" / "truncated.png").write_bytes(good[: len(good) // 2])
    os.symlink(root / "nowhere.png", root / "dog" / "dangling.png")
    with pytest.warns(ImageReadWarning, match="skipped 3") as record:
        bunch = load_image_folder(root)
    message = str(record[0].message)
    for name in ("broken.png", "truncated.png", "dangling.png"):
        assert name in message
    assert len(bunch.skipped) == 3
    assert bunch.paths.tolist() == sorted(pixels) and len(bunch.data) == 6


def test_read_images_errors():
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        read_images([], image_size=(0, 3))
    with pytest.raises(ValueError, match="'channels' parameter of read_images must be"):
        read_images([], channels=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImageReadWarning)
        with pytest.raises(ValueError, match="none of the 1 image files could be read"):
            read_images(["/nonexistent/x.png"])


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_image_folder(tmp_path)


def test_npz(tmp_path):
    X = np.arange(4 * 3 * 2, dtype=np.uint8).reshape(4, 3, 2)
    np.savez(tmp_path / "d.npz", X=X, y=np.array(["a", "b", "a", "b"]))
    Xr, yr = load_npz(tmp_path / "d.npz", return_X_y=True)
    np.testing.assert_array_equal(Xr[:, 0], X)
    assert yr.tolist() == ["a", "b", "a", "b"]
    X3, y3, paths = load_own_data(tmp_path / "d.npz")
    assert X3.shape == (4, 1, 3, 2) and paths is None
    np.savez(tmp_path / "bad.npz", images=X)
    with pytest.raises(ValueError, match=r"has arrays \['images'\]; it needs X"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", X=X, y=[0, 1])
    with pytest.raises(ValueError, match="X must have shape"):
        load_npz(tmp_path / "short.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match="neither an image folder"):
        load_own_data(tmp_path / "d.csv")


def test_own_split_is_stratified_and_seeded(tmp_path):
    y = np.repeat([0, 1], 10)
    np.savez(tmp_path / "d.npz", X=np.arange(20 * 4, dtype=np.uint8).reshape(20, 2, 2), y=y)
    a = load_own_split(tmp_path / "d.npz", random_state=3)
    b = load_own_split(tmp_path / "d.npz", random_state=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert len(a[1]) == 14 and np.bincount(a[3]).tolist() == [3, 3]
