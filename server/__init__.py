"""The REST API and web rater: FastAPI routes over SQLite state and the agile library."""
