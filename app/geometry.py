"""The shapes every layer passes on: a region, a polygon in image pixels (a request's boxes and
polygons, the lines the OCR package finds, the mask's input, what a task stores), and the sizes
and boxes the answers report. Plain data: it imports nothing of the app, so that the engine's OCR
package can use it while importing no other engine module (app.engine.masks, which draws regions,
takes it from here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Region:
    """A polygon in pixel coordinates (top-left origin). `is_box` keeps the fast box path."""

    points: tuple[tuple[float, float], ...]
    is_box: bool = False

    @classmethod
    def box(cls, x: float, y: float, w: float, h: float) -> Region:
        return cls(((x, y), (x + w, y), (x + w, y + h), (x, y + h)), is_box=True)

    def shifted(self, dx: float, dy: float) -> Region:
        return Region(tuple((x + dx, y + dy) for x, y in self.points), self.is_box)

    def clamped(self, width: int, height: int) -> Region:
        """Its points moved onto the image (0..width, 0..height): what can be looked at or drawn on
        there, with a bounded size whatever the coordinates a caller sent."""
        return Region(tuple((min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))) for x, y in self.points),
                      self.is_box)

    def bounds(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)

    def area(self) -> float:
        pts = np.asarray(self.points, dtype=np.float64)
        x, y = pts[:, 0], pts[:, 1]
        return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


@dataclass(frozen=True)
class Size:
    """An image's (or a mask's) size in pixels."""

    width: int
    height: int


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixel coordinates, as answers give one (`bounding_box`)."""

    x: float
    y: float
    width: float
    height: float
