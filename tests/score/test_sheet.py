"""hrstyle.score.sheet: a grid of real images, each cell resized and captioned where it belongs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SAMPLES

from hrstyle.io.stills import read_image
from hrstyle.score.sheet import contact_sheet


def test_cells_keep_their_images_in_a_grid_with_gaps():
    key, look = read_image(SAMPLES / "keyframe.png").pixels, read_image(SAMPLES / "look.jpg").pixels
    sheet = contact_sheet([[key, look], [look]], cell_width=160, gap=4)
    key_h, look_h = round(540 * 160 / 960), 160  # 960x540 and 640x640 at 160 px wide
    assert sheet.shape == (max(key_h, look_h) + 4 + look_h, 2 * 160 + 4, 3) and sheet.dtype == np.float32
    assert abs(sheet[:key_h, :160].mean() - key.mean()) < 0.01  # the keyframe, resized, top left
    assert np.all(sheet[:, 160:164] == 0) and np.all(sheet[look_h : look_h + 4] == 0)  # black gaps
    assert np.all(sheet[look_h + 4 :, 164:] == 0)  # the short second row is padded with black


def test_a_caption_darkens_and_inks_only_its_corner():
    grey = np.full((100, 200, 3), 0.5, np.float32)
    plain, captioned = contact_sheet([[grey]], cell_width=200), contact_sheet([[grey]], [["frame 1001"]], 200)
    changed = np.any(plain != captioned, axis=2)
    rows, cols = np.nonzero(changed)
    assert rows.max() < 30 and cols.max() < 120  # the top-left corner only
    assert captioned.max() > 0.9 and captioned[:20, :80].min() < 0.25  # white ink on a darkened box


def test_an_empty_row_is_refused():
    with pytest.raises(ValueError, match="at least one image"):
        contact_sheet([[]])
