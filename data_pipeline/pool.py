"""Run the build's jobs in worker processes so that Ctrl-C stops them cleanly.

Ctrl-C sends SIGINT to the whole foreground process group: the workers too. Workers ignore it (they are
started with SIGINT ignored, so not even their start-up can print a traceback); the parent alone raises
KeyboardInterrupt, terminates the pool and re-raises, so the caller can drop its temporaries and the command
can print its one line. Results are handed to `done` in job order, at most 2 jobs per worker in flight.
"""
from __future__ import annotations

import collections
import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any


def run_in_order(func: Callable[..., Any], jobs: Iterable[Any], args: tuple, workers: int,
                 done: Callable[[Any], None]) -> None:
    """`done(func(job, *args))` for each job, in this process (workers <= 1) or in `workers` spawned processes."""
    if workers <= 1:
        for job in jobs:
            done(func(job, *args))
        return
    ctx = multiprocessing.get_context("spawn")  # safe beside threads (JAX, array_record)
    with _sigint_ignored():  # children inherit the ignored signal from their first instruction on
        pool = ctx.Pool(workers, initializer=_ignore_sigint)
    try:
        pending: collections.deque = collections.deque()
        for job in jobs:
            pending.append(pool.apply_async(func, (job, *args)))
            while len(pending) >= 2 * workers:  # bound memory: at most 2 jobs per worker in flight
                done(pending.popleft().get())
        while pending:
            done(pending.popleft().get())
        pool.close()
    except BaseException:  # an error or Ctrl-C: stop every worker now, mid-job if need be
        pool.terminate()
        raise
    finally:
        pool.join()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in this process for the block (only the main thread may change signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
