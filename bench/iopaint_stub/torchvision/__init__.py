"""A stand-in for torchvision, only for bench/speed.py's run of IOPaint's own server.

IOPaint's api.py imports its plugins (segment-anything, GFPGAN, RealESRGAN, ...) at start-up, and
they import torchvision names at module level; the plugins stay disabled in the benchmark, so
nothing here is ever called. torchvision's wheels that match the local CPU torch 2.13 are CUDA
builds whose operators do not load on it. There is no dist-info for this package, so transformers
and diffusers (which check the installed distribution) still see torchvision as absent.
"""


class _Missing:
    def __init__(self, name: str):
        self._name = name

    def __call__(self, *a, **k):
        raise RuntimeError(f"torchvision.{self._name} is a stand-in (bench/iopaint_stub); IOPaint plugins are off")

    def __getattr__(self, item):
        return _Missing(f"{self._name}.{item}")

    def __mro_entries__(self, bases):  # allows `class X(torchvision.Thing)`
        return (object,)


def __getattr__(name):
    return _Missing(name)


__version__ = "0.0.0+bench-stub"
