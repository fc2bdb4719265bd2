"""The research harness: simulated users, reports, plots, comparisons and the probe ceiling.

Simulated users drive the library's labelling session (``agile.session``),
the same code the server drives; evaluation sets and metrics are the
library's (``agile.evaluation``).
"""
