"""The offline job: embed images or import embeddings into a corpus, then build its FAISS index."""
