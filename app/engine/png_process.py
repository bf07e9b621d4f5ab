"""Large PNGs coded with the fast codecs without holding the GIL.

fpng's and pyspng's bindings hold Python's GIL while they run (tens of milliseconds at 2048 px),
which stalls the event loop, health checks and WebSocket pings included. So for large images:
- writing: the image goes to a child process through shared memory; the child writes it with
  fpng, and this process only waits (GIL released) and receives the bytes;
- reading: libspng's own C functions (inside pyspng's extension) are called through ctypes,
  which releases the GIL for the length of the call.
Where either cannot be used, the caller falls back to OpenCV, which releases the GIL itself.
"""

from __future__ import annotations

import ctypes
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


class _Ihdr(ctypes.Structure):
    _fields_ = [("width", ctypes.c_uint32), ("height", ctypes.c_uint32), ("bit_depth", ctypes.c_uint8),
                ("color_type", ctypes.c_uint8), ("compression_method", ctypes.c_uint8),
                ("filter_method", ctypes.c_uint8), ("interlace_method", ctypes.c_uint8)]


_SPNG_FMT_RGB8, _SPNG_FMT_G8 = 4, 64
_spng: ctypes.CDLL | None | bool = None  # False: not available


def _libspng() -> ctypes.CDLL | None:
    global _spng
    if _spng is None:
        try:
            from pyspng import _pyspng_c

            lib = ctypes.CDLL(_pyspng_c.__file__)
            lib.spng_ctx_new.restype = ctypes.c_void_p
            lib.spng_ctx_new.argtypes = [ctypes.c_int]
            lib.spng_ctx_free.argtypes = [ctypes.c_void_p]
            lib.spng_set_png_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.spng_get_ihdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Ihdr)]
            lib.spng_decode_image.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                              ctypes.c_int]
            _spng = lib
        except (ImportError, OSError, AttributeError) as exc:
            log.info("libspng through ctypes unavailable (%s): OpenCV reads large PNGs", exc)
            _spng = False
    return _spng if isinstance(_spng, ctypes.CDLL) else None


def decode(data: bytes) -> np.ndarray | None:
    """An 8-bit RGB (H x W x 3) or gray (H x W) PNG decoded by libspng with the GIL released, or
    None where this path does not apply (other bit depths and colour types, errors)."""
    lib = _libspng()
    if lib is None:
        return None
    ctx = lib.spng_ctx_new(0)
    if not ctx:
        return None
    try:
        ihdr = _Ihdr()
        if lib.spng_set_png_buffer(ctx, data, len(data)) or lib.spng_get_ihdr(ctx, ctypes.byref(ihdr)):
            return None
        if ihdr.bit_depth != 8 or ihdr.color_type not in (0, 2):
            return None
        gray = ihdr.color_type == 0
        out = np.empty((ihdr.height, ihdr.width) if gray else (ihdr.height, ihdr.width, 3), np.uint8)
        fmt = _SPNG_FMT_G8 if gray else _SPNG_FMT_RGB8
        if lib.spng_decode_image(ctx, out.ctypes.data, out.nbytes, fmt, 0):
            return None  # corrupt or truncated: the caller's other decoders say so
        return out
    finally:
        lib.spng_ctx_free(ctx)
