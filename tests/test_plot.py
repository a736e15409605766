"""Spec of seqlift.plot.plot_logo."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
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


def glyph_colors(ax) -> dict[int, tuple[float, ...]]:
    """x position -> RGBA of the letter drawn there (one letter per position in these tests)."""
    colors = {}
    for patch in ax.patches:
        box = patch.get_path().get_extents(patch.get_transform() - ax.transData)
        colors[round((box.x0 + box.x1) / 2)] = tuple(round(c, 6) for c in patch.get_facecolor())
    return colors


def one_letter_per_position() -> np.ndarray:
    """A at 0, C at 1, G at 2 (negative), T at 3."""
    scores = np.zeros((4, 4))
    scores[0, 0], scores[1, 1], scores[2, 2], scores[3, 3] = 1.0, 2.0, -1.0, 0.5
    return scores


def test_default_colours_are_tangermemes(axes):
    plot_logo(one_letter_per_position(), ax=axes)
    assert glyph_colors(axes) == {
        0: (0.0, 0.5, 0.0, 1.0), 1: (0.0, 0.0, 1.0, 1.0), 2: (1.0, 0.65, 0.0, 1.0),
        3: (1.0, 0.0, 0.0, 1.0),
    }


def test_a_colour_name_colours_every_letter_and_a_dict_colours_by_letter(axes):
    plot_logo(one_letter_per_position(), ax=axes, color="black")
    assert set(glyph_colors(axes).values()) == {(0.0, 0.0, 0.0, 1.0)}
    axes.clear()
    plot_logo(one_letter_per_position(), ax=axes, color={"C": "white", "T": (0.2, 0.4, 0.6)})
    # Letters the dict leaves out keep their default colour.
    assert glyph_colors(axes) == {
        0: (0.0, 0.5, 0.0, 1.0), 1: (1.0, 1.0, 1.0, 1.0), 2: (1.0, 0.65, 0.0, 1.0),
        3: (0.2, 0.4, 0.6, 1.0),
    }


def test_numbers_per_position_go_through_the_colormap_between_vmin_and_vmax(axes):
    plot_logo(one_letter_per_position(), ax=axes, color=[0.0, 1.0, 2.0, 3.0], color_cmap="gray",
              color_vmin=1.0, color_vmax=2.0)
    # gray maps 0 -> black and 1 -> white; values outside [vmin, vmax] are clipped.
    assert glyph_colors(axes) == {
        0: (0.0, 0.0, 0.0, 1.0), 1: (0.0, 0.0, 0.0, 1.0), 2: (1.0, 1.0, 1.0, 1.0),
        3: (1.0, 1.0, 1.0, 1.0),
    }


def test_colours_per_position_are_cut_with_the_window_and_keep_their_alpha(axes):
    rgba = np.array([[1, 0, 0, 1], [0, 1, 0, 0.5], [0, 0, 1, 0.25], [0.5, 0.5, 0.5, 1]])
    plot_logo(one_letter_per_position(), ax=axes, color=rgba, start=1, end=3)
    assert glyph_colors(axes) == {1: (0.0, 1.0, 0.0, 0.5), 2: (0.0, 0.0, 1.0, 0.25)}
    axes.clear()
    plot_logo(one_letter_per_position(), ax=axes, color=["red", "k", "#00ff00", "white"])
    assert glyph_colors(axes)[2] == (0.0, 1.0, 0.0, 1.0)


def test_colours_of_the_wrong_length_warn_and_fall_back_to_the_defaults(axes):
    with pytest.warns(UserWarning, match="length 3 but the attributions have length 4"):
        plot_logo(one_letter_per_position(), ax=axes, color=[0.0, 1.0, 2.0])
    assert glyph_colors(axes)[1] == (0.0, 0.0, 1.0, 1.0)


def test_letters_below_min_height_pct_of_the_largest_are_not_drawn(axes):
    scores = np.zeros((4, 3))
    scores[0, 0], scores[1, 1], scores[2, 2] = 10.0, 0.1, 0.3
    plot_logo(scores, ax=axes)  # 2% of 10 is 0.2: the C at 1 is left out
    assert sorted(round(x) for x, _, _ in glyph_extents(axes)) == [0, 2]
    axes.clear()
    plot_logo(scores, ax=axes, min_height_pct=None)
    assert sorted(round(x) for x, _, _ in glyph_extents(axes)) == [0, 1, 2]


def test_ylim_defaults_to_the_stacks_and_a_number_means_symmetric(axes):
    plot_logo(one_letter_per_position(), ax=axes)
    assert axes.get_ylim() == (-1.0, 2.0)
    axes.clear()
    plot_logo(one_letter_per_position(), ax=axes, ylim=3)
    assert axes.get_ylim() == (-3.0, 3.0)


def test_annotations_are_drawn_as_bars_with_labels_in_tracks_that_do_not_overlap(axes):
    hits = pd.DataFrame({"motif": ["AP1", "CTCF", "GATA"], "start": [0, 2, 12],
                         "end": [3, 5, 14], "score": [1.5, 2.25, 0.5]})
    plot_logo(np.ones((4, 10)), ax=axes, annotations=hits)
    # GATA ends past the window and is left out; CTCF overlaps AP1, so it goes one track down.
    labels = {text.get_text(): text.get_position() for text in axes.texts}
    assert set(labels) == {"AP1 (1.5)", "CTCF (2.25)"}
    assert labels["CTCF (2.25)"][1] < labels["AP1 (1.5)"][1]
    bars = [line for line in axes.lines if line.get_linewidth() == 2]  # the zero line is 0.5
    assert sorted(tuple(line.get_xdata()) for line in bars) == [(-0.4, 2.4), (1.6, 4.4)]
    axes.clear()
    plot_logo(np.ones((4, 10)), ax=axes, annotations=hits, show_score=False)
    assert {text.get_text() for text in axes.texts} == {"AP1", "CTCF"}
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['score'\]"):
        plot_logo(np.ones((4, 10)), ax=axes, annotations=hits.drop(columns="score"))


def test_flip_below_is_a_keyword_only_extra(axes):
    with pytest.raises(TypeError):
        plot_logo(np.ones((4, 2)), axes, None, "viridis", None, None, None, None, None, None, 4,
                  4, "ACGT", 0.02, "score", True, True, "Set1", True)
    plot_logo(one_letter_per_position(), ax=axes, flip_below=True)
    assert len(axes.patches) == 4
