"""Service-type colours and labels shared by the web and print maps, and the colour checks.

- :data:`SERVICE_STYLES` -- one colour, marker shape, size and drawing order per service type;
  children's centres / family hubs are the most prominent (largest, drawn on top, first in
  the legend);
- :func:`service_label` -- the one human vocabulary ("Children's centre", "GP practice", ...)
  used by every legend, layer name, tooltip and sheet;
- :func:`class_labels` -- legend labels of classified values without "1,220 – 1,220";
- colour science to check the palette: sRGB -> CIELAB (D65), CIEDE2000 (Sharma, Wu & Dalal
  2005) and colour-vision-deficiency simulation (Machado, Oliveira & Fernandes 2009, severity
  1.0, applied to linear RGB).  ``tests/test_static_maps.py`` asserts the pairwise distances.

One colour system for what the maps measure (``tests/test_colour.py`` checks it):

- :data:`MINUTE_CLASSES` -- pram-pushing minutes: viridis, light and near (0-10, 10-15) to dark and
  far (15-20, 20+), with the 15-minute threshold the analysis rests on between two hue families
  (green | blue); :data:`NO_ACCESS_COLOUR` grey for no reachable service;
- :func:`need_colours` -- children / need choropleths: a light-to-dark yellow-orange-brown ramp
  (YlOrBr), a hue family no minute class uses;
- :data:`GAP_COLOUR` -- gap areas (families beyond the threshold): the first beyond-threshold minute
  colour, so "beyond 15 minutes" is one colour on every map, far from every need class;
- :func:`adjacent_distances` / :func:`min_adjacent_distance` -- CAM02-UCS distances between
  neighbouring classes as seen with deuteranopia, protanopia and tritanopia (``colorspacious``,
  Machado 2009 at severity 100).
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import colorspacious
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex


@dataclass(frozen=True)
class ServiceStyle:
    """How one service type is drawn.

    Attributes
    ----------
    colour : str
        Fill colour, ``#rrggbb``.
    marker : str
        matplotlib marker code (print maps).
    size_pt : float
        Marker size in points (print maps); web circle radius is ``size_pt * 0.9`` pixels.
    rank : int
        Drawing and legend order: lower is more prominent (drawn last, on top; listed first).
    """

    colour: str
    marker: str
    size_pt: float
    rank: int


#: Per-type style.  Colours are Okabe & Ito (2008) plus a dark brown and a grey; every pair is
#: at least :data:`MIN_DELTA_E00` apart (CIEDE2000) in normal vision and at least
#: :data:`MIN_DELTA_E00_CVD` apart for simulated deuteranopia and protanopia, and marker shapes
#: differ as well.
SERVICE_STYLES: dict[str, ServiceStyle] = {
    "childrens_centre": ServiceStyle("#D55E00", "*", 17.0, 0),
    "gp_practice": ServiceStyle("#0072B2", "P", 8.5, 1),
    "primary_school": ServiceStyle("#E69F00", "o", 7.0, 2),
    "library": ServiceStyle("#CC79A7", "s", 7.5, 3),
    "pharmacy": ServiceStyle("#009E73", "D", 6.5, 4),
    "nursery_school": ServiceStyle("#F0E442", "p", 7.0, 5),
    "secondary_school": ServiceStyle("#56B4E9", "^", 7.5, 6),
    "special_school": ServiceStyle("#6B3E26", "v", 7.5, 7),
    "other_school": ServiceStyle("#BBBBBB", "h", 6.5, 8),
}
#: Styles for service types a pack adds (chosen by a stable hash of the type name).
FALLBACK_STYLES: tuple[ServiceStyle, ...] = (
    ServiceStyle("#000000", "X", 7.0, 20), ServiceStyle("#7F3C8D", "p", 7.0, 20),
    ServiceStyle("#11A579", "d", 7.0, 20), ServiceStyle("#3969AC", "<", 7.0, 20),
)
MIN_DELTA_E00 = 20.0
MIN_DELTA_E00_CVD = 10.0

#: The human vocabulary of service types, used by every map, legend and sheet.
SERVICE_LABELS: dict[str, str] = {
    "childrens_centre": "Children's centre",
    "gp_practice": "GP practice",
    "pharmacy": "Pharmacy",
    "library": "Library",
    "primary_school": "Primary school",
    "secondary_school": "Secondary school",
    "nursery_school": "Nursery school",
    "special_school": "Special school",
    "other_school": "Other school",
    "any_key": "Any key service",
}


def service_label(service_type: str, pack_labels: Mapping[str, str] | None = None) -> str:
    """Human label of a service type (plain text; escape it for HTML).

    Known types use :data:`SERVICE_LABELS`; a type only an area pack knows uses the pack's
    ``[service_types]`` label; anything else is humanised (``"youth_club"`` -> ``"Youth club"``).
    """
    key = str(service_type)
    if key in SERVICE_LABELS:
        return SERVICE_LABELS[key]
    if pack_labels and key in pack_labels:
        return str(pack_labels[key])
    return key.replace("_", " ").strip().capitalize()


def service_style(service_type: str) -> ServiceStyle:
    """Style of one service type (stable across maps, runs and processes)."""
    if service_type in SERVICE_STYLES:
        return SERVICE_STYLES[service_type]
    return FALLBACK_STYLES[zlib.crc32(str(service_type).encode("utf-8")) % len(FALLBACK_STYLES)]


def by_prominence(service_types: Sequence[str]) -> list[str]:
    """``service_types`` most prominent first (children's centres first), ties in given order."""
    order = {t: i for i, t in enumerate(service_types)}
    return sorted(dict.fromkeys(service_types), key=lambda t: (service_style(t).rank, order[t]))


# --------------------------------------------------------------------------- class labels
def class_labels(lower: float, bins: Sequence[float], max_decimals: int = 2) -> list[str]:
    """Legend labels of classes ``[lower, bins[0]], (bins[0], bins[1]], ...``.

    Uses the fewest decimals (0 to ``max_decimals``) at which all class bounds are distinct;
    a class whose bounds still print the same shows one value (``"1,220"``), never
    ``"1,220 – 1,220"``.
    """
    bounds = [float(lower), *map(float, bins)]
    decimals = 0
    for decimals in range(max_decimals + 1):
        texts = [f"{b:,.{decimals}f}" for b in bounds]
        if len(set(texts)) == len(set(bounds)):
            break
    texts = [f"{b:,.{decimals}f}" for b in bounds]
    return [texts[i + 1] if texts[i] == texts[i + 1] else f"{texts[i]} – {texts[i + 1]}"
            for i in range(len(bins))]


# --------------------------------------------------------------------------- colour science
_MACHADO_2009: dict[str, np.ndarray] = {
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779],
                            [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}
_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]])
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def hex_to_rgb(colour: str) -> np.ndarray:
    """``"#rrggbb"`` -> sRGB in 0..1 (shape (3,))."""
    c = colour.lstrip("#")
    return np.array([int(c[i:i + 2], 16) for i in (0, 2, 4)], dtype=float) / 255.0


def _to_linear(rgb: np.ndarray) -> np.ndarray:
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _to_srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)


def simulate_cvd(rgb: np.ndarray, kind: str = "deuteranopia") -> np.ndarray:
    """sRGB (0..1, shape (..., 3)) as seen with a colour-vision deficiency (Machado 2009, severity 1)."""
    lin = _to_linear(np.asarray(rgb, dtype=float))
    return _to_srgb(lin @ _MACHADO_2009[kind].T)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0..1, shape (..., 3)) -> CIELAB (D65, 2 degree observer)."""
    xyz = _to_linear(np.asarray(rgb, dtype=float)) @ _SRGB_TO_XYZ.T / _WHITE_D65
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005), kL = kC = kH = 1."""
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, dtype=float), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, dtype=float), -1, 0)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25.0 ** 7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dLp, dCp = L2 - L1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(c1p * c2p == 0, 0.0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)))
    dHp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    Lp_bar, Cp_bar = (L1 + L2) / 2, (c1p + c2p) / 2
    hsum = h1p + h2p
    hp_bar = np.where(c1p * c2p == 0, hsum,
                      np.where(np.abs(h1p - h2p) <= 180, hsum / 2,
                               np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2)))
    t = (1 - 0.17 * np.cos(np.radians(hp_bar - 30)) + 0.24 * np.cos(np.radians(2 * hp_bar))
         + 0.32 * np.cos(np.radians(3 * hp_bar + 6)) - 0.20 * np.cos(np.radians(4 * hp_bar - 63)))
    d_theta = 30 * np.exp(-(((hp_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(Cp_bar ** 7 / (Cp_bar ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (Lp_bar - 50) ** 2 / np.sqrt(20 + (Lp_bar - 50) ** 2)
    s_c = 1 + 0.045 * Cp_bar
    s_h = 1 + 0.015 * Cp_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((dLp / s_l) ** 2 + (dCp / s_c) ** 2 + (dHp / s_h) ** 2
                   + r_t * (dCp / s_c) * (dHp / s_h))


def min_pairwise_delta_e(colours: Sequence[str], vision: str | None = None) -> tuple[float, tuple[str, str]]:
    """Smallest CIEDE2000 distance between any two ``colours`` and the pair that has it.

    ``vision``: ``None`` (normal) or a deficiency of :func:`simulate_cvd`.
    """
    rgb = np.array([hex_to_rgb(c) for c in colours])
    if vision is not None:
        rgb = simulate_cvd(rgb, vision)
    lab = rgb_to_lab(rgb)
    i, j = np.triu_indices(len(colours), k=1)
    d = delta_e2000(lab[i], lab[j])
    k = int(np.argmin(d))
    return float(d[k]), (colours[i[k]], colours[j[k]])


# --------------------------------------------------------------------------- the colour system
@dataclass(frozen=True)
class MinuteClass:
    """One class of pram-pushing minutes: ``lower <= minutes < upper`` (``upper`` may be inf)."""

    lower_min: float
    upper_min: float
    label: str
    colour: str

    @property
    def beyond_threshold(self) -> bool:
        """True for classes at or beyond :data:`THRESHOLD_MINUTES` (the gap side)."""
        return self.lower_min >= THRESHOLD_MINUTES


#: The pram-distance threshold every map emphasises (the run's default gap threshold).
THRESHOLD_MINUTES = 15.0

#: Minute classes: viridis at 1.0, 0.7 | 0.35, 0.0 -- near classes yellow and green, far classes
#: blue and dark purple.  Adjacent classes are at least :data:`MIN_ADJACENT_CAM02UCS` apart in
#: CAM02-UCS in normal vision and under each simulated dichromacy (the old green-to-red ramp
#: merged 10-15 and 15-20 minutes under deuteranopia: 2 units).
MINUTE_CLASSES: tuple[MinuteClass, ...] = (
    MinuteClass(0.0, 10.0, "0–10 min", "#fde725"),
    MinuteClass(10.0, 15.0, "10–15 min", "#44bf70"),
    MinuteClass(15.0, 20.0, "15–20 min", "#2f6c8e"),
    MinuteClass(20.0, float("inf"), "20+ min", "#440154"),
)
#: Homes with no reachable service of a type (after the last minute class in every legend).
NO_ACCESS_COLOUR = "#9e9e9e"
#: Gap areas: the first beyond-threshold class (15–20 min), drawn as an outline and a light fill.
GAP_COLOUR = MINUTE_CLASSES[2].colour
#: Colour map and range of :func:`need_colours`.
NEED_CMAP, NEED_RANGE = "YlOrBr", (0.05, 1.0)

#: Colour-vision deficiencies simulated by the checks (colorspacious names, severity 100 =
#: dichromacy): deuteranopia, protanopia, tritanopia.
CVD_KINDS: dict[str, str] = {"deuteranopia": "deuteranomaly", "protanopia": "protanomaly",
                             "tritanopia": "tritanomaly"}
#: Required CAM02-UCS distance between adjacent minute classes (and the last one and "no
#: reachable service") in normal vision and every simulation.
MIN_ADJACENT_CAM02UCS = 20.0
#: Required CAM02-UCS distance between adjacent classes of a 5-class need ramp (a single-hue
#: lightness ramp cannot do much better: 5 steps share about 70 units of lightness).
MIN_ADJACENT_CAM02UCS_NEED = 12.0


def minute_colours(with_no_access: bool = True) -> list[str]:
    """Minute-class colours in legend order (then the no-reachable-service grey)."""
    return [c.colour for c in MINUTE_CLASSES] + ([NO_ACCESS_COLOUR] if with_no_access else [])


def minute_class_index(minutes: np.ndarray) -> np.ndarray:
    """Index of the :data:`MINUTE_CLASSES` class of each value; ``len(MINUTE_CLASSES)`` when
    missing or not finite (no reachable service)."""
    v = np.asarray(minutes, dtype=float)
    idx = np.full(v.shape, len(MINUTE_CLASSES), dtype=int)
    for i, c in enumerate(MINUTE_CLASSES):
        idx[(v >= c.lower_min) & (v < c.upper_min)] = i
    return idx


def need_colours(n: int) -> list[str]:
    """``n`` need-choropleth colours, light (few children) to dark (many)."""
    cm = colormaps[NEED_CMAP]
    lo, hi = NEED_RANGE
    if n <= 1:
        return [to_hex(cm((lo + hi) / 2))]
    return [to_hex(cm(lo + (hi - lo) * i / (n - 1))) for i in range(n)]


def simulate_cvd_colours(colours: Sequence[str], vision: str | None) -> np.ndarray:
    """sRGB (0..1) of ``colours`` as seen with ``vision`` (a key of :data:`CVD_KINDS`, or None).

    Uses ``colorspacious`` (Machado, Oliveira & Fernandes 2009) at severity 100.
    """
    rgb = np.array([hex_to_rgb(c) for c in colours])
    if vision is None:
        return rgb
    space = {"name": "sRGB1+CVD", "cvd_type": CVD_KINDS[vision], "severity": 100}
    return np.clip(colorspacious.cspace_convert(rgb, space, "sRGB1"), 0.0, 1.0)


def adjacent_distances(colours: Sequence[str], vision: str | None = None) -> np.ndarray:
    """CAM02-UCS distance between each colour and the next, as seen with ``vision``."""
    rgb = simulate_cvd_colours(colours, vision)
    return np.asarray(colorspacious.deltaE(rgb[:-1], rgb[1:], input_space="sRGB1",
                                           uniform_space="CAM02-UCS"), dtype=float)


def min_adjacent_distance(colours: Sequence[str]) -> tuple[float, str, tuple[str, str]]:
    """Smallest adjacent CAM02-UCS distance over normal vision and every :data:`CVD_KINDS`.

    Returns the distance, the vision that has it (``"normal"`` or a deficiency) and the pair.
    """
    best = (math.inf, "normal", ("", ""))
    for vision in (None, *CVD_KINDS):
        d = adjacent_distances(colours, vision)
        i = int(np.argmin(d))
        if d[i] < best[0]:
            best = (float(d[i]), vision or "normal", (colours[i], colours[i + 1]))
    return best
