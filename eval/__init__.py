"""Evaluation: stratified evaluation sets, metrics, simulated users, reports and plots.

Uses ``agile`` as a library; every call into the labelling loop goes through
``eval.loop`` so a change of the library's signatures touches one file.
"""
