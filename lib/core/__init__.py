"""What every stage shares: paths, params, seeding, the per-split map, the results contract, metrics, the
operating point, statistics, formatting and figures. Imports nothing else of lib/."""
