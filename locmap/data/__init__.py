"""The data layer: area packs, validated readers, boundaries, population, services, homes, PCNs -> AreaData (EPSG:27700)."""
