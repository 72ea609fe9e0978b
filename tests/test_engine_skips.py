"""`data.max_bad_fraction` at exactly the bound: the run goes on; one more bad video (or line) stops it.

The bound is compared as a quotient: `bad / total > max_bad_fraction`.  As a product it would stop runs at
the bound for most fractions (`0.29 * 100` is 28.999999999999996, so 29 bad of 100 would stop at 0.29).
"""

from __future__ import annotations

import pytest

from actionlab.engine.skips import EpochSkips, annotation_lines
from actionlab.errors import DataError


class Listed:
    """A dataset whose annotation list had `bad` bad lines besides `good` usable ones."""

    def __init__(self, good: int, bad: int):
        self.good = good
        self.annotation_errors = [f"train.txt:{i + 1}: bad label" for i in range(bad)]

    def __len__(self) -> int:
        return self.good


@pytest.mark.parametrize("fraction, total", [(0.29, 100), (0.57, 100), (0.25, 4), (0.01, 100), (0.1, 30),
                                             (0.3, 10), (0.0, 8)])
def test_exactly_max_bad_fraction_goes_on_and_one_more_stops(fraction, total):
    at_bound = round(fraction * total)
    skips = EpochSkips(dataset=None, order=range(total), batch_size=4)
    skips.check(at_bound, total, fraction, epoch=1)  # exactly the bound: goes on
    with pytest.raises(DataError, match=rf"epoch 1: {at_bound + 1} of {total} training videos could not be read "
                                        rf"\(more than data.max_bad_fraction={fraction:g}\)"):
        skips.check(at_bound + 1, total, fraction, epoch=1)
    # the same rule for the training list's bad lines, before the run starts
    annotation_lines({"train": Listed(total - at_bound, at_bound)}, fraction)
    with pytest.raises(DataError, match=rf"{at_bound + 1} of {total} lines of the training list are bad"):
        annotation_lines({"train": Listed(total - at_bound - 1, at_bound + 1)}, fraction)
