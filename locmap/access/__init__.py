"""Access from homes to services: nearest services, coverage by area and age band, 2SFCA, gap areas, cross-border shares."""
