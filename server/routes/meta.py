"""Who am I, what is served, and the images of the corpus."""
from __future__ import annotations

from fastapi import APIRouter

from agile.sampling import STRATEGIES
from server.auth import StateDep, UserDep
from server.errors import NotFound
from server.images import image_response
from server.params import ImageId
from server.schemas import Me, ServerInfo

router = APIRouter(prefix="/api", tags=["server"])


@router.get("/me", response_model=Me)
def me(user: UserDep, state: StateDep):
    """The caller: name, role (owner or viewer), and whether the server runs in dev mode."""
    return Me(name=user.name, role=user.role, dev=state.settings.dev)


@router.get("/info", response_model=ServerInfo)
def info(_: UserDep, state: StateDep):
    """What is served: the corpus, its embedding model and index, batch size, strategies, evaluation and
    polling limits."""
    corpus = state.loop.corpus
    return ServerInfo(corpus=corpus.root.name, count=corpus.count, dim=corpus.dim,
                      model=state.loop.model_info, index=getattr(state.loop.index, "kind", type(state.loop.index).__name__),
                      batch_size=state.settings.batch_size, dev=state.settings.dev, strategies=list(STRATEGIES),
                      eval_versions=state.settings.eval_versions, eval_per_stratum=state.settings.eval_per_stratum,
                      max_wait_seconds=state.settings.max_wait_seconds, text_model=state.loop.has_text)


@router.get("/images/{corpus_id}", responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}})
def image(corpus_id: ImageId, _: UserDep, state: StateDep):
    """The image of a corpus id (rendered, a file, a redirect, or a placeholder for synthetic corpora)."""
    if not 0 <= corpus_id < state.loop.corpus.count:
        raise NotFound(f"no image {corpus_id}: the corpus holds ids 0..{state.loop.corpus.count - 1}")
    return image_response(corpus_id, state.loop.uri(corpus_id))
