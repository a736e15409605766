"""Spec of seqlift.plot.plot_logo."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from seqlift.plot import plot_logo  # noqa: E402


@pytest.fixture
def axes():
    figure, ax = plt.subplots()
    yield ax
    plt.close(figure)


def glyph_extents(ax):
    """(x centre, y bottom, y top) of every letter patch logomaker drew."""
    extents = []
    for patch in ax.patches:
        box = patch.get_path().get_extents(patch.get_transform() - ax.transData)
        extents.append(((box.x0 + box.x1) / 2, box.y0, box.y1))
    return extents


def test_positive_letters_stand_above_zero_and_negative_ones_hang_below(axes):
    scores = torch.zeros(4, 3)
    scores[0, 0] = 2.0  # A up at position 0
    scores[3, 2] = -1.5  # T down at position 2
    returned = plot_logo(scores, ax=axes)
    assert returned is axes
    extents = sorted(glyph_extents(axes))
    assert len(extents) == 2
    (x_up, bottom_up, top_up), (x_down, bottom_down, top_down) = extents
    assert round(x_up) == 0 and bottom_up >= -1e-9 and top_up == pytest.approx(2.0, abs=0.05)
    assert round(x_down) == 2 and top_down <= 1e-9 and bottom_down == pytest.approx(-1.5, abs=0.05)


def test_start_and_end_draw_a_window_in_original_coordinates(axes):
    scores = np.zeros((4, 50))
    scores[2, 10:20] = 1.0
    plot_logo(scores, ax=axes, start=10, end=20)
    assert axes.get_xlim() == (9.5, 19.5)
    centres = sorted(round(x) for x, _, _ in glyph_extents(axes))
    assert centres == list(range(10, 20))


def test_ylim_is_applied_and_bad_shapes_raise(axes):
    plot_logo(np.ones((4, 5)), ax=axes, ylim=(-3, 7))
    assert axes.get_ylim() == (-3, 7)
    with pytest.raises(ValueError, match=r"\(4, length\)"):
        plot_logo(np.ones((5, 4)), ax=axes)
    with pytest.raises(ValueError, match="span"):
        plot_logo(np.ones((4, 5)), ax=axes, start=4, end=2)
