"""Request and response bodies of a concept's image seeds."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from server.schemas import CorpusId, Strict


class SeedIdsAdd(Strict):
    ids: list[CorpusId] = Field(min_length=1, max_length=1000, description="images of the corpus, by id")


class SeedPublic(BaseModel):
    id: int = Field(description="the seed's id (DELETE .../seeds/{id})")
    kind: Literal["corpus", "upload"]
    corpus_id: int | None = Field(description="a corpus image's id")
    image_url: str | None = Field(description="a corpus image's url (uploads are not kept, only embedded)")
    sha256: str | None = Field(description="an upload's content hash")
    added_at: str


class SeedsPublic(BaseModel):
    concept_id: int
    text_model: bool = Field(description="whether the corpus can also be searched with phrases")
    seeds: list[SeedPublic]
