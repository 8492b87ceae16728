"""The render's thread plumbing: a decode thread ahead of the grading, an encode thread behind it,
each behind a small bounded queue, and Ctrl-C (or SIGTERM) deferred to a flag so frames in flight finish.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

_POLL_S = 0.1


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C or SIGTERM into a flag the render checks between batches, so the
    frames in flight are finished; a second one interrupts at once. Signals reach only the
    main thread; elsewhere both are left alone, as they are where the parent ignores them."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    hit = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if hit.is_set():
            raise KeyboardInterrupt
        hit.set()

    # None: a handler set outside Python, which could not be put back.
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    previous = {s: before for s, before in previous.items() if before not in (signal.SIG_IGN, None)}
    for signum in previous:
        signal.signal(signum, handler)
    try:
        yield hit.is_set
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


T = TypeVar("T")


_END = object()


@dataclass(frozen=True)
class _Raised:
    error: BaseException


class Prefetch(Generic[T]):
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead.
    An error there re-raises where the items are consumed."""

    def __init__(self, items: Generator[T, None, None], depth: int, name: str) -> None:
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _run(self, items: Generator[T, None, None]) -> None:
        try:
            for item in items:
                if not self._offer(item):
                    return
            self._offer(_END)
        except BaseException as exc:  # handed to the consumer's thread
            self._offer(_Raised(exc))
        finally:
            items.close()  # when stopped early, this closes an open video

    def _offer(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                pass
        return False

    def __iter__(self) -> Iterator[T]:
        while (item := self._queue.get()) is not _END:
            if isinstance(item, _Raised):
                raise item.error
            yield item

    def close(self) -> None:
        """Stop reading ahead and wait for the thread."""
        self._stop.set()
        self._thread.join()


class Consumer(Generic[T]):
    """Call ``handle`` on each item in a background thread, in order, with at most
    ``depth`` waiting. After a failure the rest are dropped and `put`/`close` re-raise it."""

    def __init__(self, handle: Callable[[T], None], depth: int, name: str) -> None:
        self._handle = handle
        self._queue: queue.Queue = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._error is None:
                try:
                    self._handle(item)
                except BaseException as exc:  # re-raised in the producer's thread
                    self._error = exc

    def put(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def close(self) -> None:
        """Wait until every item is handled; re-raise a failure. Safe to call twice."""
        if self._thread.is_alive():  # it runs until the one _END only close sends
            self._queue.put(_END)
            self._thread.join()
        if self._error is not None:
            raise self._error
