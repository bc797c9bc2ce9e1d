"""The London batch: every borough of a region as a task on dask.distributed, cached by input hash, plus the London summary (league table, population check, map)."""
