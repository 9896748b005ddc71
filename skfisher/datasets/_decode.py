"""One image file as stored uint8 pixels, read as it is.

Every mode Pillow opens is brought into 8 bits by scaling, never by clipping:
16-bit greyscale (``I;16``) is scaled from 0..65535, 32-bit integer (``I``)
from 0..65535 when its values fit (else from the image's own minimum and
maximum), float (``F``) from 0..1 when its values fit (else min..max). A
palette (``P``) is expanded to its colours, CMYK and other colour spaces are
converted to RGB, and alpha channels are dropped. The EXIF orientation of a
photo is applied first, as every photo viewer does. :data:`CONVERSIONS` says,
per mode, what was done; readers record it.
"""

import io

import numpy as np

__all__ = ["CONVERSIONS", "GRAY_MODES", "decode_image", "image_mode"]

#: Modes read as greyscale when ``channels`` is None.
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}

#: How each mode is brought into the stored uint8 range.
CONVERSIONS = {
    "1": "1-bit: 0 -> 0, 1 -> 255",
    "L": "8-bit greyscale: as is",
    "LA": "8-bit greyscale with alpha: alpha dropped",
    "La": "8-bit greyscale with premultiplied alpha: alpha dropped",
    "P": "palette: expanded to its RGB colours (transparency dropped)",
    "PA": "palette with alpha: expanded to RGB, alpha dropped",
    "RGB": "8-bit RGB: as is",
    "RGBA": "8-bit RGB with alpha: alpha dropped",
    "RGBa": "8-bit RGB with premultiplied alpha: alpha dropped",
    "RGBX": "8-bit RGB with padding: padding dropped",
    "CMYK": "CMYK: converted to RGB",
    "YCbCr": "YCbCr: converted to RGB",
    "LAB": "CIELAB: converted to RGB",
    "HSV": "HSV: converted to RGB",
    "I;16": "16-bit greyscale: 0..65535 scaled to 0..255",
    "I;16B": "16-bit greyscale: 0..65535 scaled to 0..255",
    "I;16L": "16-bit greyscale: 0..65535 scaled to 0..255",
    "I;16N": "16-bit greyscale: 0..65535 scaled to 0..255",
    "I": "32-bit integer greyscale: 0..65535 scaled to 0..255 when the values fit, "
    "else each image's min..max stretched to 0..255",
    "F": "32-bit float greyscale: 0..1 scaled to 0..255 when the values fit, "
    "else each image's min..max stretched to 0..255",
}


def _open(source):
    from PIL import Image

    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    return Image.open(source)


def image_mode(source):
    """The Pillow mode of an image file (its header only is read)."""
    with _open(source) as image:
        return image.mode


def _scaled(values, mode):
    """Numeric pixels (float64) scaled into 0..255, as :data:`CONVERSIONS` says."""
    if mode.startswith("I;16"):
        return values * (255.0 / 65535.0)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode == "I" and lo >= 0 and hi <= 65535:
        return values * (255.0 / 65535.0)
    if mode == "F" and lo >= 0 and hi <= 1:
        return values * 255.0
    if not np.isfinite([lo, hi]).all():
        raise ValueError(f"{mode} image holds non-finite values")
    return (values - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(values)


def _to_8bit(image, grey):
    """A Pillow image in mode ``L`` (``grey``) or ``RGB``."""
    from PIL import Image

    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.rint(_scaled(values, mode)).astype(np.uint8), mode="L")
    elif mode in ("P", "PA"):
        image = image.convert("RGBA")
    if grey:
        return image.convert("L")
    return image.convert("RGB")


def decode_image(source, image_size=None, channels=None):
    """One image (a path, or the file's bytes) as uint8 pixels, and its mode.

    Parameters
    ----------
    source : path-like or bytes
    image_size : (int, int), default=None
        ``(height, width)`` to resize to (bilinear); None keeps the size.
    channels : {None, 1, 3}, default=None
        None: greyscale for the modes in :data:`GRAY_MODES`, else RGB.

    Returns
    -------
    pixels : ndarray of shape (h, w) (grey) or (h, w, 3), dtype uint8
    mode : str
        The file's Pillow mode (a key of :data:`CONVERSIONS`, usually).
    """
    from PIL import Image, ImageOps

    with _open(source) as image:
        image.load()
        mode = image.mode
        grey = channels == 1 or (channels is None and mode in GRAY_MODES)
        image = _to_8bit(ImageOps.exif_transpose(image), grey)
        if image_size is not None and image.size != tuple(image_size[::-1]):
            image = image.resize(tuple(image_size[::-1]), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8), mode
