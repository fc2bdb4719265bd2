"""Embedder families other than open_clip, one module each.

Each module registers a factory for its model name with
`agile.embedder.register_embedder` when imported; `embedder_for_corpus`
imports every module here before it looks a corpus's model up, so adding a
family is adding a file, and the core names none of them.
"""
