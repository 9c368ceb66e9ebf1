"""The crowdMOS input file of a rating study: one line per file, ``source TAB algorithm TAB file``.

`read_ratings_input` parses and checks it before anything is converted; every refusal is a
`RatingsInputError` naming the file and line. Paths are relative to the input file's folder;
``http(s)://`` URLs are fetched by the build (`stimuli.ratings_media`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import BuildOptionError

DESIGNS = ("random", "diff-source", "same-source", "mushra", "dsis")
"""The designs of ``mvt build-ratings --design`` (crowdMOS's)."""

REF = "REF"
ANC = "ANC"
_REQUIRED = {"mushra": (REF, ANC), "dsis": (REF,)}


class RatingsInputError(BuildOptionError):
    """The input file of ``mvt build-ratings`` has a line the build cannot use (the message names it)."""


@dataclass(frozen=True)
class InputLine:
    """One file to rate: ``source`` processed by ``algorithm``, at ``location`` (path or URL).

    ``label`` names where a file that is not an input line came from (a study file's gold entry).
    """

    source: str
    algorithm: str
    location: str
    line_no: int
    label: str = ""

    @property
    def where(self) -> str:
        """What an error message names: ``line N``, or the ``label``."""
        return self.label or f"line {self.line_no}"

    @property
    def is_url(self) -> bool:
        """Whether ``location`` is an http(s) URL rather than a local path."""
        return self.location.startswith(("http://", "https://"))


def read_ratings_input(path: str | os.PathLike, design: str) -> list[InputLine]:
    """Parse and check a crowdMOS input file for ``design``.

    Blank lines and lines starting with ``#`` are skipped. Local paths are resolved against the
    file's folder and must exist (decoding is checked by the build).

    Parameters
    ----------
    path : path
        The TSV file.
    design : str
        One of `DESIGNS`; MUSHRA needs algorithms ``REF`` and ``ANC`` for every source, DSIS ``REF``.

    Returns
    -------
    lines : list of InputLine
        In file order, locations of local files made absolute.

    Raises
    ------
    RatingsInputError
        A line without three tab-separated fields, an empty field, a repeated (source,
        algorithm) pair, a missing file, algorithms that do not cover the same sources, a
        missing ``REF``/``ANC``, or fewer than two samples.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "in.tsv").write_text("s1\\tA\\thttps://x/a.wav\\ns1\\tB\\thttps://x/b.wav\\n")
    >>> [(l.source, l.algorithm) for l in read_ratings_input(d / "in.tsv", "random")]
    [('s1', 'A'), ('s1', 'B')]
    """
    if design not in DESIGNS:
        raise RatingsInputError(f"--design ({design!r}) must be one of {', '.join(DESIGNS)}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RatingsInputError(f"cannot read the input file {path} ({exc})") from None
    lines: list[InputLine] = []
    seen: dict[tuple[str, str], int] = {}
    for line_no, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        where = f"{path}, line {line_no}"
        fields = raw.split("\t")
        if len(fields) != 3 or not all(f.strip() for f in fields):
            raise RatingsInputError(f"{where} ({raw[:80]!r}) must be <source> TAB <algorithm> TAB <file or URL>")
        source, algorithm, location = (f.strip() for f in fields)
        if (source, algorithm) in seen:
            raise RatingsInputError(f"{where}: source {source!r} with algorithm {algorithm!r} is repeated "
                                    f"(first on line {seen[source, algorithm]})")
        seen[source, algorithm] = line_no
        item = InputLine(source, algorithm, location, line_no)
        if not item.is_url:
            local = (path.parent / location).resolve()
            if not local.is_file():
                raise RatingsInputError(f"{where}: file {location!r} does not exist (looked at {local})")
            item = InputLine(source, algorithm, str(local), line_no)
        lines.append(item)
    if len(lines) < 2:
        raise RatingsInputError(f"{path} lists {len(lines)} file(s); a rating study needs at least two")
    _check_coverage(lines, path)
    for needed in _REQUIRED.get(design, ()):
        _check_required(lines, needed, design, path)
    return lines


def _check_coverage(lines: list[InputLine], path: Path) -> None:
    """Every algorithm must process the same sources (a fair comparison rates the same inputs)."""
    sources_of: dict[str, set[str]] = defaultdict(set)
    first_line: dict[str, int] = {}
    for item in lines:
        sources_of[item.algorithm].add(item.source)
        first_line.setdefault(item.algorithm, item.line_no)
    all_sources = set().union(*sources_of.values())
    for algorithm, sources in sources_of.items():
        missing = sorted(all_sources - sources)
        if missing:
            raise RatingsInputError(
                f"{path}, line {first_line[algorithm]}: algorithm {algorithm!r} has no file for source(s) "
                f"{', '.join(map(repr, missing[:5]))}; every algorithm must cover the same sources")


def _check_required(lines: list[InputLine], needed: str, design: str, path: Path) -> None:
    if not any(item.algorithm == needed for item in lines):
        first = lines[0]
        raise RatingsInputError(
            f"{path}, line {first.line_no}: source {first.source!r} has no {needed} line; "
            f"--design {design} needs algorithm {needed} for every source")
