"""Benchmarks of the labelling loop and of the server's round latency (run by ``agile bench``)."""
