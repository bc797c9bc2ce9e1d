"""Age-band names shared by every module (people, not percentages)."""
BANDS: tuple[str, ...] = ("pop_total", "pop_0_4", "pop_5_11", "pop_12_19", "pop_0_19")
CHILD_BANDS: tuple[str, ...] = ("pop_0_4", "pop_5_11", "pop_12_19", "pop_0_19")
BAND_LABELS: dict[str, str] = {
    "pop_total": "all ages",
    "pop_0_4": "children 0-4",
    "pop_5_11": "children 5-11",
    "pop_12_19": "young people 12-19",
    "pop_0_19": "children and young people 0-19",
}
#: inclusive single-year ranges (max age) defining each band
BAND_AGES: dict[str, tuple[int, int]] = {
    "pop_0_4": (0, 4), "pop_5_11": (5, 11), "pop_12_19": (12, 19), "pop_0_19": (0, 19),
}


def bands_in(columns) -> list[str]:
    """The age-band columns among ``columns`` (a DataFrame or its column names), in :data:`BANDS` order."""
    names = set(getattr(columns, "columns", columns))
    return [b for b in BANDS if b in names]
