"""Agile Modeling: from a visual concept in someone's head to an image classifier in minutes."""
__version__ = "0.1.0"
