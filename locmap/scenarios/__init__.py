"""Scenarios: what opening, closing and re-typing services does to pram-distance access.

A scenario is the baseline register plus changes (:mod:`locmap.scenarios.spec`, a TOML file or
Python objects).  :func:`locmap.api.compare_scenarios` resolves them against the register
(:mod:`~locmap.scenarios.resolve`), measures distances once for the union of services
(:mod:`~locmap.scenarios.distances`; a closure is a mask), compares every scenario with the
baseline (:mod:`~locmap.scenarios.compare`) and re-scores the recommendation
(:mod:`~locmap.scenarios.comparison`).  docs/scenarios.md describes the file and the tables.
"""
