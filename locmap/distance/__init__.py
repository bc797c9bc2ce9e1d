"""Distances in metres: OSM street networks, routers (street or estimated) and the circuity calibration."""
