"""The ``agile`` command line: thin wrappers over library functions."""
