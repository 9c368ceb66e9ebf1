"""Rating scales: the one definition of their points, for the build, the kind, analysis and simulation.

ACR and DCR (ITU-T P.800) and the BT.500 DSIS impairment scale have five points 1..5; MUSHRA
(ITU-R BS.1534) is a 0..100 slider. What workers read for each point is the rating kind's
(`studies.ratings.LABELS`).
"""

from __future__ import annotations


def scale_bounds(scale: str) -> tuple[int, int]:
    """Lowest and highest point of a scale: 0..100 (MUSHRA) or 1..5 (ACR, DCR)."""
    return (0, 100) if scale == "mushra" else (1, 5)


def options_for(scale: str) -> list[str]:
    """The answers ``record.lua`` accepts: ``"1"``..``"5"`` (ACR, DCR) or ``"0"``..``"100"`` (MUSHRA)."""
    low, high = scale_bounds(scale)
    return [str(v) for v in range(low, high + 1)]
