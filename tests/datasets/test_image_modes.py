"""Images are read as they are: every Pillow mode scaled into uint8, never
clipped, and EXIF-rotated photos turned upright; the same reader for
``load_image_folder``, ``run/compare --data`` and labeling projects."""

import numpy as np
import pytest
from PIL import Image

from skfisher import LabelingProject
from skfisher.datasets import load_image_folder, read_images
from skfisher.datasets._own_images import load_own_data

#: A 4 x 8 ramp of 16-bit values 0 .. 65535.
RAMP16 = np.linspace(0, 65535, 32).round().astype(np.uint16).reshape(4, 8)


def expected8(values, top):
    return np.rint(values.astype(np.float64) * 255 / top).astype(np.uint8)


@pytest.fixture(scope="module")
def modes(tmp_path_factory):
    """One file per mode, in a labeled folder (class ``a``: grey, ``b``: colour)."""
    root = tmp_path_factory.mktemp("modes")
    (root / "a").mkdir()
    (root / "b").mkdir()
    Image.fromarray(RAMP16).save(root / "a" / "i16.png")  # mode I;16
    floats = (RAMP16 / 65535).astype(np.float32)
    Image.fromarray(floats, mode="F").save(root / "a" / "float.tif")
    Image.fromarray(floats * 1000 - 200, mode="F").save(root / "a" / "float_wide.tif")
    rgb = np.zeros((4, 8, 3), np.uint8)
    rgb[:, :4] = (255, 0, 0)
    rgb[:, 4:] = (0, 0, 255)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "b" / "pal.png")
    rgba = np.dstack([rgb, np.full((4, 8), 7, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(root / "b" / "rgba.png")
    Image.fromarray(rgb).convert("CMYK").save(root / "b" / "cmyk.jpg", quality=100)
    la = np.dstack([expected8(RAMP16, 65535), np.zeros((4, 8), np.uint8)])
    Image.fromarray(la, mode="LA").save(root / "a" / "la.png")
    # a photo stored sideways: 8 wide x 16 high, EXIF orientation 6 (turn 90° clockwise)
    stored = np.zeros((16, 8, 3), np.uint8)
    stored[:8] = 255  # white top half as stored -> white right half once turned
    photo = Image.fromarray(stored)
    exif = photo.getexif()
    exif[0x0112] = 6
    photo.save(root / "b" / "photo.jpg", exif=exif, quality=100)
    return root


def test_16_bit_and_float_greyscale_are_scaled_not_clipped(modes):
    X, kept, skipped = read_images(
        [modes / "a" / "i16.png", modes / "a" / "float.tif", modes / "a" / "float_wide.tif"]
    )
    assert skipped == [] and X.shape == (3, 1, 4, 8)
    np.testing.assert_array_equal(X[0, 0], expected8(RAMP16, 65535))
    assert len(np.unique(X[0])) == 32  # not 0 and 255 only
    np.testing.assert_allclose(X[1, 0], expected8(RAMP16, 65535), atol=1)
    np.testing.assert_allclose(X[2, 0], expected8(RAMP16, 65535), atol=1)  # min..max


def test_palette_rgba_cmyk_la_and_exif_rotation(modes):
    names = ["pal.png", "rgba.png", "cmyk.jpg", "photo.jpg"]
    X, _, skipped = read_images([modes / "b" / n for n in names[:3]])
    assert skipped == [] and X.shape == (3, 3, 4, 8)
    red_left = np.zeros((3, 4, 8), np.uint8)
    red_left[0, :, :4] = 255
    red_left[2, :, 4:] = 255
    np.testing.assert_array_equal(X[0], red_left)  # palette expanded
    np.testing.assert_array_equal(X[1], red_left)  # alpha dropped, colours kept
    np.testing.assert_allclose(X[2], red_left, atol=3)  # CMYK -> RGB
    la, _, _ = read_images([modes / "a" / "la.png"])
    np.testing.assert_array_equal(la[0, 0], expected8(RAMP16, 65535))
    photo, _, _ = read_images([modes / "b" / "photo.jpg"])
    assert photo.shape == (1, 3, 8, 16)  # upright: 16 wide, 8 high
    assert photo[0, :, :, 9:].min() > 240 and photo[0, :, :, :7].max() < 15


def test_load_image_folder_run_data_and_projects_share_the_reader(modes, tmp_path):
    data = load_image_folder(modes, image_size=(4, 8))
    assert data.data.shape == (8, 3, 4, 8)
    assert data.conversions["I;16"] == "16-bit greyscale: 0..65535 scaled to 0..255"
    assert data.conversions["CMYK"] == "CMYK: converted to RGB"
    row = list(data.paths).index(str(modes / "a" / "i16.png"))
    np.testing.assert_array_equal(data.data[row, 0], expected8(RAMP16, 65535))
    X, y, paths = load_own_data(modes, image_size=(4, 8))  # run/compare --data
    np.testing.assert_array_equal(X, data.data)
    project = LabelingProject.create(
        tmp_path / "proj", unlabeled=modes, classes=["x", "y"], image_size=(4, 8)
    )
    config = project.config
    assert config["channels"] == 3 and config["n_pool"] == 8
    assert set(config["conversions"]) == {"I;16", "F", "P", "RGBA", "CMYK", "LA", "RGB"}
    assert config["conversions"]["P"].startswith("palette: expanded")
    pool = np.load(project.path / "pool.npy", mmap_mode="r")
    order = np.argsort(data.paths)
    np.testing.assert_array_equal(pool, data.data[order])
    grey = LabelingProject.create(
        tmp_path / "grey", unlabeled=modes / "a", classes=["x", "y"], image_size=(4, 8)
    )
    assert grey.config["channels"] == 1
    assert grey.status(cv=0)["conversions"]["F"].startswith("32-bit float greyscale")
