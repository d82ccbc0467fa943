"""Images from files: a directory of PNG images (labelled by subdirectory) as integer
pixels, and the number of pixel levels integer images hold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..optional import require


def read_png_directory(directory: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Every *.png below `directory` as uint8 (N, C, H, W); labelled by subdirectory when
    the images sit in subdirectories (classes in the sorted order of their names)."""
    image = require("PIL.Image", "pillow", "reading PNG images")
    files = sorted(directory.rglob("*.png"))
    if not files:
        raise ValueError(f"{directory}: no .png files in this directory")
    arrays = []
    for file in files:
        try:
            with image.open(file) as picture:
                colour = picture.mode not in ("1", "L", "LA", "I", "I;16")
                arrays.append(np.asarray(picture.convert("RGB" if colour else "L")))
        except OSError as error:
            raise ValueError(f"{file}: not a readable PNG image ({error})") from None
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"{directory}: images of different sizes {sorted(shapes)[:2]}")
    stack = np.stack(arrays)
    stack = stack[:, None] if stack.ndim == 3 else stack.transpose(0, 3, 1, 2)
    parents = [f.parent.relative_to(directory).as_posix() for f in files]
    if all(p == "." for p in parents):
        return stack, None
    if any(p == "." for p in parents):
        raise ValueError(
            f"{directory}: images both at the top and in subdirectories; put every image in "
            "its class's subdirectory, or all at the top (unlabelled)"
        )
    names = sorted(set(parents))
    return stack, np.array([names.index(p) for p in parents])


def pixel_levels(images: list[np.ndarray], where: str) -> int:
    """The pixel levels of integer images: 256 for 8-bit values, else the largest + 1."""
    if any(x.dtype.kind not in "iu" for x in images):
        raise ValueError(
            f"{where}: arrays (N, H, W) or (N, C, H, W) are images and must hold integer "
            f"pixels; got {images[0].dtype} (give a 2-D array (N, D) for vectors)"
        )
    low = min(int(x.min()) for x in images)
    high = max(int(x.max()) for x in images)
    if low < 0:
        raise ValueError(f"{where}: pixels must be >= 0; found {low}")
    return 256 if high < 256 else high + 1
