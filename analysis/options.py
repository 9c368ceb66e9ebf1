"""Checks of `mvt analyze`'s numeric options, so that a bad value is one sentence, not a traceback."""

from __future__ import annotations

import math

from kernel.errors import AnalysisOptionError


def check_analysis_options(*, min_r: float = 0.25, z_limit: float = 2.5, max_outlier_share: float = 0.05,
                           min_screen_ratings: int = 20, ddof: int = 1, control_threshold: float = 0.6,
                           min_correlation_trials: int = 20) -> None:
    """Refuse option values the screening or interval arithmetic cannot use.

    Parameters
    ----------
    min_r : float
        A correlation threshold: in [-1, 1] (``--min-r``).
    z_limit : float
        A positive number of standard deviations (``--z-limit``).
    max_outlier_share : float
        A share in [0, 1) (``--max-outlier-share``; 1 could never be exceeded).
    min_screen_ratings : int
        At least 1 (``--min-screen-ratings``).
    ddof : int
        0 or 1 (``--ddof``): the crowdMOS variances' delta degrees of freedom.
    control_threshold : float
        A proportion in [0, 1] (``--control-threshold``).
    min_correlation_trials : int
        At least 1 (``--min-correlation-trials``).

    Raises
    ------
    AnalysisOptionError
        Naming the option, its value and what is expected.

    Examples
    --------
    >>> check_analysis_options(min_r=-2)
    Traceback (most recent call last):
    ...
    kernel.errors.AnalysisOptionError: --min-r (-2) must be a correlation from -1 to 1
    """
    checks = [
        ("--min-r", min_r, -1 <= min_r <= 1, "a correlation from -1 to 1"),
        ("--z-limit", z_limit, z_limit > 0 and math.isfinite(z_limit), "a positive number of standard deviations"),
        ("--max-outlier-share", max_outlier_share, 0 <= max_outlier_share < 1, "a share from 0 to below 1"),
        ("--min-screen-ratings", min_screen_ratings, min_screen_ratings >= 1, "at least 1"),
        ("--min-correlation-trials", min_correlation_trials, min_correlation_trials >= 1, "at least 1"),
        ("--ddof", ddof, ddof in (0, 1), "0 or 1"),
        ("--control-threshold", control_threshold, 0 <= control_threshold <= 1, "a proportion from 0 to 1"),
    ]
    for name, value, ok, expected in checks:
        if not ok:
            raise AnalysisOptionError(f"{name} ({value:g}) must be {expected}")
