"""Candidate localities: schemes, scorecards, ranking with sensitivity and recommendation, alignment, hub sites."""
