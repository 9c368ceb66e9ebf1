"""Live timing quality by display, counted as responses are recorded (never a scan of responses).

``record.lua`` adds each newly recorded trial that shows frames and has a timing verdict (``timing_ok``
true or false: MVT's; a rating answer's verdict can only be false, so those are left out) to its
link's ``keys.link_timing`` hash, under the
display it was shown on: ``<browser>|<OS>|<refresh Hz>|<devicePixelRatio>``. The browser and OS
families come from the request's User-Agent through ua-parser (Browserscope's rules, the
``ua-parser-builtins`` data), the ratio and rate from the page's own measurements. The control
room sums these hashes per experiment and shows the share timing_ok by each of the four.
"""

from __future__ import annotations

import functools
import re

DIMENSIONS = ("browser", "OS", "refresh rate (Hz)", "devicePixelRatio")
"""The parts of a display, in the order they are stored (the page's headings)."""
UNKNOWN = "unknown"
_UNSAFE = re.compile(r"[^A-Za-z0-9 ._-]")


def warm() -> None:
    """Load ua-parser's rules now (about 0.5 s), at start-up rather than in a worker's first answer."""
    browser_os("Mozilla/5.0")


@functools.lru_cache(maxsize=4096)
def browser_os(user_agent: str | None) -> tuple[str, str]:
    """The browser and OS families of a User-Agent (``("Chrome", "Windows")``), `UNKNOWN` for either
    part ua-parser does not recognise; only letters, digits, space, ``._-``, at most 32 characters."""
    from ua_parser import parse_os, parse_user_agent

    text = (user_agent or "")[:512]
    browser, system = parse_user_agent(text), parse_os(text)

    def clean(family: str | None) -> str:
        cleaned = _UNSAFE.sub("", family or "")[:32].strip()
        return cleaned if cleaned and cleaned != "Other" else UNKNOWN

    return clean(browser and browser.family), clean(system and system.family)


def display_of(user_agent: str | None, dpr, refresh_interval_ms) -> str:
    """The display a trial was shown on, as ``record.lua`` counts it: ``<browser>|<OS>|<Hz>|<dpr>``
    (devicePixelRatio to two decimals, the refresh rate to the nearest Hz; `UNKNOWN` when not sent)."""
    browser, system = browser_os(user_agent)
    ratio = f"{float(dpr):.2f}".rstrip("0").rstrip(".") if isinstance(dpr, (int, float)) and 0 < dpr < 100 else UNKNOWN
    hz = (str(round(1000 / refresh_interval_ms)) if isinstance(refresh_interval_ms, (int, float))
          and 1 < refresh_interval_ms < 1000 else UNKNOWN)
    return f"{browser}|{system}|{hz}|{ratio}"


def add_counts(total: dict[str, list[int]], counts: dict[str, str]) -> None:
    """Add one link's ``keys.link_timing`` hash to ``total`` (display → [trials, timing_ok])."""
    for name, n in counts.items():
        what, _, display = name.partition("|")
        if what in ("n", "ok"):
            total.setdefault(display, [0, 0])[what == "ok"] += int(n)


KIND_PREFIX = "k|"
"""Fields of ``keys.link_timing`` that record.lua counts for the study kind (`add_kind_counts`)."""


def add_kind_counts(total: dict[str, int], counts: dict[str, str]) -> None:
    """Add one link's kind counts (``k|<name>`` fields of its ``keys.link_timing`` hash) to ``total``
    (name → count): a rating trap's or gold trial's answer by its distance from the known score
    (``trap|0``, ``gold|1``, ``gold|x`` for a non-numeric answer) and each task's headphone check
    outcome (``headphone|5/6``), for `studies.base.StudyKind.control_quality`."""
    for name, n in counts.items():
        if name.startswith(KIND_PREFIX):
            total[name[len(KIND_PREFIX):]] = total.get(name[len(KIND_PREFIX):], 0) + int(n)


def shares(total: dict[str, list[int]]) -> dict[str, list[tuple[str, int, int]]]:
    """Per dimension of `DIMENSIONS`: (value, trials, timing_ok) for each value seen, most trials first."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    for i, dimension in enumerate(DIMENSIONS):
        by_value: dict[str, list[int]] = {}
        for display, (n, ok) in total.items():
            parts = display.split("|")
            value = parts[i] if len(parts) == len(DIMENSIONS) else UNKNOWN
            cell = by_value.setdefault(value, [0, 0])
            cell[0] += n
            cell[1] += ok
        out[dimension] = sorted(((v, n, ok) for v, (n, ok) in by_value.items()), key=lambda row: (-row[1], row[0]))
    return out
