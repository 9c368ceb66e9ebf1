"""One function call run in a forked child process while the caller goes on: `in_background`.

``mvt analyze`` computes its accuracy, progress, timing and suspicion tables (single-threaded
pandas, ~1 s of CPU on a million responses) in a child while it estimates the MVTs, and has its
report's two costliest figures (single-threaded matplotlib, ~2.5 s) drawn in one while it writes the
CSVs and draws the other figures: on two cores the halves overlap. A fork copies the finished
analysis without pickling it; the child sends back only the call's result (small tables, the
figures' PNG text) or its exception, which `Background.result` raises in the caller. Where ``fork``
is not available (Windows), or the caller runs other threads (a fork copies only the calling
thread, so a lock another thread holds at that moment stays held in the child forever: a server
thread, a test harness), the call simply runs at once, in the caller.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading


class Background:
    """A call running in a child process; `result` waits for it."""

    def __init__(self, process, receive):
        self._process, self._receive = process, receive

    def result(self):
        """The call's return value, once the child has finished; its exception raised here if it failed.

        Raises
        ------
        RuntimeError
            If the child ended without an answer (killed, or out of memory).
        """
        try:
            ok, value = self._receive.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(f"the background process ended with exit code {self._process.exitcode} "
                               "and no result") from None
        finally:
            self._receive.close()
            self._process.join()  # reaped whatever recv raised
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child (the caller failed and will not wait for it)."""
        self._process.terminate()
        self._process.join()
        self._receive.close()


class _Done(Background):
    """A call that already ran in the caller (no ``fork``)."""

    def __init__(self, fn, args):
        try:
            self._outcome = (True, fn(*args))
        except Exception as exc:  # raised by result(), as from a child
            self._outcome = (False, exc)

    def result(self):
        ok, value = self._outcome
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        pass


def _run(send, fn, args) -> None:
    try:
        outcome = (True, fn(*args))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
        outcome = (False, exc)
    try:
        send.send(outcome)
    except Exception:  # a result or exception that does not pickle: its type and text
        ok, value = outcome
        send.send((False, RuntimeError(f"{type(value).__name__}: {value}" if not ok
                                       else f"the background call's result does not pickle: {value!r:.200}")))
    finally:
        send.close()


def in_background(fn, *args) -> Background:
    """Start ``fn(*args)`` in a forked child process and return at once.

    ``fn`` must not write anything the caller writes too; its result and exception must pickle.

    Examples
    --------
    >>> in_background(sum, [1, 2, 3]).result()
    6
    """
    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return _Done(fn, args)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_run, args=(send, fn, args), daemon=True)
    # The child's garbage collector leaves the objects it inherits alone: walking a million-row
    # table's objects would copy every page of them (copy-on-write) for nothing.
    gc.freeze()
    try:
        process.start()
    except OSError:  # no memory or processes left for a fork: the call runs here, as without fork
        send.close()
        receive.close()
        return _Done(fn, args)
    finally:
        gc.unfreeze()
    send.close()
    return Background(process, receive)
