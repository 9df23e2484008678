# Copyright (c) ifam_mm contributors. All rights reserved.
"""Procedurally drawn two-class "creatures" with exact part labels."""
import cv2
import numpy as np

CREATURE_CLASSES = ('bird', 'quadruped')
# Part ids in the label maps (0 = not the creature). Both classes have the
# same four parts, so part discovery has one vocabulary across classes.
CREATURE_PARTS = ('head', 'body', 'legs', 'tail')
HEAD, BODY, LEGS, TAIL = 1, 2, 3, 4


def _polygon(canvas: np.ndarray, points, label: int) -> None:
    cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], label)


def _ellipse(canvas, center, axes, angle, label) -> None:
    cv2.ellipse(canvas, (int(round(center[0])), int(round(center[1]))),
                (max(1, int(round(axes[0]))), max(1, int(round(axes[1])))),
                angle, 0, 360, label, -1)


def _line(canvas, start, end, width, label) -> None:
    cv2.line(canvas, (int(round(start[0])), int(round(start[1]))),
             (int(round(end[0])), int(round(end[1]))), label,
             max(1, int(round(width))))


def _bird(canvas: np.ndarray, s: float, rng: np.random.Generator) -> None:
    """Upright egg body, round head with a beak, fan tail, two thin legs."""
    cx, cy = 0.45 * s, 0.5 * s
    bw, bh = s * rng.uniform(0.2, 0.25), s * rng.uniform(0.14, 0.18)
    tilt = rng.uniform(-35, -20)
    # Drawn back to front: later parts cover earlier ones, so every pixel
    # gets the label of the part that is visible there.
    for dx in (-0.25, 0.2):
        foot = (cx + dx * bw, 0.93 * s)
        _line(canvas, (cx + dx * bw, cy + 0.5 * bh), foot, 0.04 * s, LEGS)
        _line(canvas, foot, (foot[0] + 0.1 * s, foot[1]), 0.04 * s, LEGS)
    tail_root = (cx - 0.8 * bw, cy + 0.3 * bh)
    spread = rng.uniform(0.12, 0.2) * s
    _polygon(canvas, [tail_root, (0.03 * s, cy + 0.2 * s - spread),
                      (0.03 * s, cy + 0.2 * s + spread)], TAIL)
    _ellipse(canvas, (cx, cy), (bw, bh), tilt, BODY)
    head = (cx + 0.85 * bw, cy - 1.6 * bh)
    r = s * rng.uniform(0.09, 0.11)
    _polygon(canvas, [(head[0] + 0.6 * r, head[1] - 0.5 * r),
                      (head[0] + 0.6 * r, head[1] + 0.5 * r),
                      (head[0] + r + rng.uniform(0.1, 0.16) * s, head[1])],
             HEAD)
    _ellipse(canvas, head, (r, r), 0, HEAD)


def _quadruped(canvas: np.ndarray, s: float,
               rng: np.random.Generator) -> None:
    """Long horizontal body, four thick legs, a head with ears, thin tail."""
    cx, cy = 0.45 * s, 0.45 * s
    bw, bh = s * rng.uniform(0.28, 0.33), s * rng.uniform(0.11, 0.14)
    leg_w = rng.uniform(0.05, 0.07) * s
    for dx in (-0.85, -0.45, 0.45, 0.85):
        x = cx + dx * bw
        _line(canvas, (x, cy), (x, 0.93 * s), leg_w, LEGS)
    _line(canvas, (cx - 0.95 * bw, cy - 0.3 * bh),
          (0.04 * s, cy - rng.uniform(0.15, 0.3) * s), 0.05 * s, TAIL)
    _ellipse(canvas, (cx, cy), (bw, bh), 0, BODY)
    head = (cx + 1.05 * bw, cy - 1.3 * bh)
    r = s * rng.uniform(0.09, 0.11)
    for ear in (-0.6, 0.3):
        _polygon(canvas, [(head[0] + (ear - 0.4) * r, head[1] - 0.5 * r),
                          (head[0] + (ear + 0.4) * r, head[1] - 0.5 * r),
                          (head[0] + ear * r, head[1] - 1.7 * r)], HEAD)
    snout = (head[0] + 0.5 * r, head[1] + 0.3 * r)
    _ellipse(canvas, snout, (1.3 * r, 0.7 * r), 0, HEAD)
    _ellipse(canvas, head, (r, r), 0, HEAD)


def draw_creature(label: int, size: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Draw one creature of class ``label`` into a square part-label map.

    Sizes, tilts and proportions are jittered, and the creature faces left
    or right at random, so only the arrangement of parts tells the classes
    apart (a bird stands on two thin legs under an upright body with a fan
    tail; a quadruped has four thick legs under a long body and ears).

    Args:
        label (int): Class index into :data:`CREATURE_CLASSES`.
        size (int): Side of the map in pixels.
        rng (np.random.Generator): Source of randomness.

    Returns:
        np.ndarray: uint8 map [size, size]: 0 outside the creature, else the
        part id (1-based index into :data:`CREATURE_PARTS`).
    """
    if label not in (0, 1):
        raise ValueError(f'Creature label must be 0 (bird) or 1 (quadruped), '
                         f'got {label}.')
    canvas = np.zeros((size, size), dtype=np.uint8)
    (_bird if label == 0 else _quadruped)(canvas, float(size), rng)
    if rng.random() < 0.5:
        canvas = np.ascontiguousarray(canvas[:, ::-1])
    return canvas
