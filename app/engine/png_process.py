"""fpng in a child process, for images too large to write while holding the GIL.

fpng's binding holds Python's GIL while it writes (tens of milliseconds at 2048 px), which stalls
the event loop, health checks and WebSocket pings included. A large image is therefore handed to
one child process through shared memory: the child writes it with fpng, and this process only
waits (GIL released) and receives the bytes. Where the child cannot be used (no fpng, a broken
pool), the caller falls back to OpenCV's writer, which releases the GIL itself.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import shared_memory

import numpy as np

log = logging.getLogger(__name__)

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()
_broken = False  # the child could not run here once: OpenCV writes from then on (no retry cost)


def _write_in_child(name: str, shape: tuple[int, ...]) -> bytes:
    from fpng import fpng_ext

    shm = shared_memory.SharedMemory(name=name)
    try:
        arr = np.ndarray(shape, np.uint8, buffer=shm.buf)
        data: bytes = fpng_ext.encode_ndarray(arr)
        del arr  # release the buffer before closing the mapping
        return data
    finally:
        shm.close()


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:  # spawn: a clean child (no copy of this process's threads and locks)
            _pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn"))
        return _pool


def encode(arr: np.ndarray) -> bytes | None:
    """The PNG of an 8-bit RGB/RGBA array written by fpng in the child, or None where that failed."""
    global _pool, _broken
    if _broken:
        return None
    shm = shared_memory.SharedMemory(create=True, size=arr.nbytes)
    try:
        view = np.ndarray(arr.shape, np.uint8, buffer=shm.buf)
        view[...] = arr
        del view
        return _get_pool().submit(_write_in_child, shm.name, arr.shape).result()
    except (BrokenProcessPool, OSError, RuntimeError) as exc:
        log.warning("PNG writer process unavailable (%s): OpenCV writes large PNGs from now on", exc)
        with _lock:
            _pool, _broken = None, True
        return None
    finally:
        shm.close()
        shm.unlink()
