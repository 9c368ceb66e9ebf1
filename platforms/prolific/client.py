"""The Prolific API client (httpx): token from ``PROLIFIC_TOKEN``, throttling retried, clear errors.

API reference: https://docs.prolific.com/api-reference/introduction. Every request carries
``Authorization: Token <token>``; the token is read from the environment when a command runs
and is never stored or printed.

Retries: httpx retries only failed *connections* (``HTTPTransport(retries=…)``: the request
never left), and has no retry on status codes, so this module retries HTTP 429 (the request was
refused, so repeating it is safe) honouring ``Retry-After``, with exponential backoff otherwise.
5xx answers and lost answers are retried only for idempotent calls (GET, and the transitions
Prolific documents as idempotent); for the others (create a study, pay a bulk bonus, which
Prolific documents as *not* idempotent) the failure says the outcome is unknown, and the ledger
holds the action until the experimenter checked on Prolific.
"""

from __future__ import annotations

import functools
import os
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from kernel.errors import MVTError, PlatformBadInput

PRODUCTION_URL = "https://api.prolific.com"
API_PREFIX = "/api/v1"
MAX_ATTEMPTS = 6
MAX_WAIT_S = 60.0
MAX_PAGES = 1000
"""Pages of one listing followed at most: a listing that goes on (or whose next link loops) is an error."""


class ProlificNoToken(MVTError):
    """``PROLIFIC_TOKEN`` is not set: the API cannot be used."""

    reason = "prolific_no_token"
    status_code = 500


class ProlificCallFailed(MVTError):
    """A Prolific call failed (after retries when throttled); the message names the id and why.

    ``attempts`` counts the tries; ``unknown_outcome`` is true when Prolific may have done it
    (its answer was lost or was a server error) for a call that is not safe to repeat.
    """

    reason = "prolific_failed"
    status_code = 502

    def __init__(self, message: str, *, attempts: int = 1, unknown_outcome: bool = False):
        super().__init__(message)
        self.attempts = attempts
        self.unknown_outcome = unknown_outcome
        self.already_processed = False


class ProlificBadInput(PlatformBadInput):
    """An option or input file given to an ``mvt prolific`` command is malformed."""

    reason = "prolific_bad_input"
    status_code = 400


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    # httpx builds a new certificate store per client (~30 ms); one per process is enough.
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def token_from_env() -> str:
    """The API token from ``PROLIFIC_TOKEN``; a clear error when it is missing."""
    value = os.environ.get("PROLIFIC_TOKEN", "").strip()
    if not value:
        raise ProlificNoToken(
            "PROLIFIC_TOKEN is not set: create an API token in Prolific (Settings → API token) "
            "and `export PROLIFIC_TOKEN=…` (mvt reads it when a command runs and never stores it)")
    return value


def error_detail(response: httpx.Response) -> str:
    """Prolific's error explanation (``{"error": {"detail": …}}``), one line."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or response.reason_phrase
    error = body.get("error", body) if isinstance(body, dict) else body
    detail = error.get("detail", error) if isinstance(error, dict) else error
    return " ".join(str(detail).split())[:300]


class ProlificClient:
    """Calls to one Prolific API (production, or a stand-in at another address for tests).

    Parameters
    ----------
    token : str or None
        The API token (``Authorization: Token <token>``). None: a client for dry runs that fetch
        nothing; its first request raises `ProlificNoToken`.
    base_url : str
        ``https://api.prolific.com`` unless testing against a stand-in.
    attempts : int
        Tries per call when throttled (HTTP 429), the first included.
    sleep : callable
        Waits between tries (seconds); tests may pass one that does not wait.
    """

    def __init__(self, token: str | None, base_url: str = PRODUCTION_URL, *, attempts: int = MAX_ATTEMPTS,
                 sleep: Callable[[float], None] = time.sleep, timeout_s: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.sleep = sleep
        self.has_token = bool(token)
        self.http = httpx.Client(base_url=self.base_url + API_PREFIX, timeout=timeout_s,
                                 headers={"Authorization": f"Token {token}"} if token else {},
                                 transport=httpx.HTTPTransport(retries=2, verify=_tls()))

    @property
    def environment(self) -> str:
        """``production`` for api.prolific.com, ``test`` for any other address (ledger scope)."""
        return "production" if urlsplit(self.base_url).hostname == "api.prolific.com" else "test"

    def target_line(self) -> str:
        """The line every command prints first: which Prolific API it targets."""
        url = self.base_url + API_PREFIX + "/"
        if self.environment == "production":
            return f"Prolific API {url}: real participants, real money."
        return f"Prolific API at {url} (not api.prolific.com: a test stand-in, nothing real happens)."

    def _wait_s(self, response: httpx.Response | None, attempt: int) -> float:
        after = response.headers.get("Retry-After") if response is not None else None
        if after is not None:
            try:
                return min(MAX_WAIT_S, max(0.0, float(after)))
            except ValueError:
                pass
        return min(MAX_WAIT_S, 2.0 ** (attempt - 1))

    def request(self, method: str, path: str, *, subject: str, json: Any = None,
                params: dict | None = None, idempotent: bool | None = None) -> dict:
        """One API call; returns the JSON answer (``{}`` when empty).

        Raises
        ------
        ProlificCallFailed
            Prolific refused the call, or it was still throttled after ``attempts`` tries.
        """
        if not self.has_token:
            token_from_env()  # raises the sentence saying how to set PROLIFIC_TOKEN
        idempotent = method == "GET" if idempotent is None else idempotent
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.http.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                if idempotent and attempt < self.attempts:
                    self.sleep(self._wait_s(None, attempt))
                    continue
                raise ProlificCallFailed(
                    f"{subject}: no answer from Prolific after {attempt} tries ({exc!r})",
                    attempts=attempt, unknown_outcome=not isinstance(exc, httpx.ConnectError)) from None
            retryable = response.status_code == 429 or (idempotent and response.status_code >= 500)
            if retryable and attempt < self.attempts:
                self.sleep(self._wait_s(response, attempt))
                continue
            if retryable:
                raise ProlificCallFailed(f"{subject}: still throttled after {attempt} tries "
                                         f"(HTTP {response.status_code}: {error_detail(response)})",
                                         attempts=attempt)
            if response.status_code >= 400:
                raise ProlificCallFailed(f"{subject}: {error_detail(response)} (HTTP {response.status_code})",
                                         attempts=attempt, unknown_outcome=response.status_code >= 500)
            return response.json() if response.content else {}
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(self, path: str, *, subject: str, params: dict | None = None,
              max_pages: int = MAX_PAGES) -> Iterator[dict]:
        """Every item of a paged listing (``results``, next page at ``_links.next.href``).

        Raises `ProlificCallFailed` after ``max_pages`` pages, or when a next link names a page
        already read, instead of following the listing for ever.
        """
        url: str | None = path
        seen: set[str] = set()
        while url:
            if len(seen) >= max_pages or url in seen:
                why = f"more than {max_pages} pages" if url not in seen else f"its next link loops back to {url}"
                raise ProlificCallFailed(f"{subject}: stopped following the listing: {why}")
            seen.add(url)
            page = self.request("GET", url, params=params, subject=subject)
            yield from page.get("results", [])
            url = ((page.get("_links") or {}).get("next") or {}).get("href")
            params = None  # the next link carries them


def make_client(token: str | None = None, base_url: str | None = None, **kwargs: Any) -> ProlificClient:
    """The client for ``PROLIFIC_API_URL`` (default api.prolific.com) with ``PROLIFIC_TOKEN``.

    Without a token the client still plans dry runs that fetch nothing (create-study without
    participants to exclude, the transitions); its first API call says how to set the token.
    """
    return ProlificClient(token or os.environ.get("PROLIFIC_TOKEN", "").strip() or None,
                          base_url or os.environ.get("PROLIFIC_API_URL") or PRODUCTION_URL, **kwargs)
