"""Server settings: command-line flags override ``AGILE_SERVER_*`` environment variables."""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("runs/server")


def database_path(data: str | Path) -> Path:
    return Path(data) / "agile.sqlite3"


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGILE_SERVER_", extra="forbid")

    corpus: Path = Field(description="corpus directory to serve")
    data: Path = Field(DEFAULT_DATA_DIR, description="SQLite database and model versions live here")
    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8000, ge=0, le=65535, description="port to listen on")
    dev: bool = Field(False, description="loopback only: requests without a token act as the local owner")
    batch_size: int = Field(100, ge=1, le=1000, description="images per rating batch")
    per_phrase: int = Field(100, ge=1, le=10_000, description="nearest neighbours per phrase in expansion")
    random_negatives: int | None = Field(None, ge=0, description="unrated images used as negatives in "
                                         "training (default: the library's)")
    max_upload_bytes: int = Field(8 << 20, ge=1024, description="largest image accepted for scoring")
    max_score_items: int = Field(10_000, ge=1, description="most ids or embeddings per scoring request")
    max_wait_seconds: float = Field(30.0, ge=0, description="longest long-poll a client may ask for")
    pin_scan_store: bool = Field(False, description="mlock the int8 scan store so other files never evict it "
                                 "(a service on its own machine; needs a memlock limit of its size)")
    engine: Literal["local", "ray"] = Field("local", description="where each round's corpus-wide scan runs: "
                                            "local threads, or Ray scan actors on the cluster in RAY_ADDRESS (or "
                                            "one started on this machine); the batches are the same")
    scan_actors: int | None = Field(None, ge=1, description="with engine ray: scan actors (default: one per CPU "
                                    "of the cluster)")
    eval_versions: int = Field(3, ge=1, le=100, description="an evaluate job stratifies over this many latest "
                               "versions (and the zero-shot ranking)")
    eval_per_stratum: int = Field(20, ge=1, le=1000, description="evaluation images per score stratum and model "
                                  "(lowest URI hashes; 10 strata)")
    eval_bootstrap: int = Field(100, ge=0, le=2000, description="bootstrap resamples for the evaluation "
                                "metrics' 95% intervals")
    policy_path: Path | None = Field(None, description="JSON policy of concepts this server refuses to build "
                                     "(default: the library's, agile/policy/default.json)")
    allow_random_weights: bool = Field(False, description="benchmarks only: serve a corpus whose open_clip model "
                                       "has no pretrained tag or checkpoint (its phrases find arbitrary images)")
    learner: Literal["ensemble", "mlp", "logreg"] | None = Field(
        None, description="each version's learner (default: the library's, ensemble: the paper's MLP and a logistic "
                          "regression on the rated images, as one model); mlp: exactly the paper's recipe; logreg: "
                          "the logistic regression alone")
    recipe: Literal["fixed", "adaptive"] = Field("fixed", description="fixed: the learner on the paper's schedule; "
                                                 "adaptive: each version's learner chosen among a few by "
                                                 "cross-validation on its ratings (adds about 2 s to a round "
                                                 "at 600 ratings), the choice kept in its sidecar")
    cross_validate: bool = Field(True, description="record a 3-fold AUC-PR on the rated images with each "
                                 "version (the rater's estimate before an evaluation set exists), measured once the "
                                 "version's batch is out")
    assistant_words: Path | None = Field(None, description="phrases (one a line) the assistant may suggest "
                                         "(default: the corpus's own: demo attributes, caption n-grams)")
    assistant_llm_url: str | None = Field(None, description="OpenAI-compatible chat endpoint (e.g. "
                                          "http://127.0.0.1:8080/v1) that words the assistant's findings; "
                                          "unset: the findings' own text")
    assistant_llm_model: str = Field("default", description="model name sent to that endpoint")
    assistant_llm_key_env: str = Field("AGILE_ASSISTANT_LLM_KEY", description="environment variable holding "
                                       "the endpoint's API key (never stored in settings)")
    job_start_delay: float = Field(0.0, ge=0, description="seconds a job waits before working (crash tests)")
    max_jobs_per_user: int = Field(4, ge=1, le=10_000, description="jobs one user may have queued or running")
    max_queued_jobs: int = Field(64, ge=1, le=100_000, description="jobs queued or running on the server in all")
    max_image_pixels: int = Field(24_000_000, ge=1, le=178_956_970,
                                  description="largest decoded size (width x height) of an image to score; "
                                  "checked from its header before decoding")
    max_concurrent_images: int = Field(2, ge=1, le=64, description="images decoded and embedded at once; "
                                       "more requests wait up to image_wait_seconds, then get 429")
    image_wait_seconds: float = Field(10.0, ge=0, le=600, description="how long a score-image request waits "
                                      "for a free slot")
    max_bootstrap: int = Field(200, ge=0, le=2000, description="most bootstrap resamples a client may ask "
                               "the evaluation report for")
    request_read_timeout: float = Field(30.0, gt=0, le=3600, description="seconds a client has to send a "
                                        "request's whole body (408 after)")
    allowed_hosts: list[str] = Field(["*"], description="Host header values served ('*' any, '*.example.com' "
                                     "a domain); --dev serves loopback names only")
    read_access: Literal["all", "shared"] = Field(
        "all", description="all: every user reads every concept; shared: a user reads the concepts they own "
                           "and those an owner shared with them")

    @model_validator(mode="after")
    def _dev_needs_loopback(self) -> "ServerSettings":
        if self.dev and not is_loopback(self.host):
            raise ValueError(f"--dev disables tokens and is only allowed on loopback, not on {self.host}")
        if self.eval_bootstrap > self.max_bootstrap:
            raise ValueError(f"eval_bootstrap {self.eval_bootstrap} is over max_bootstrap {self.max_bootstrap}")
        if self.dev and any(h != "*" and not is_loopback(h) for h in self.allowed_hosts):
            raise ValueError("--dev serves loopback host names only; drop --allowed-hosts or --dev")
        return self

    def session_settings(self):
        """How every concept's labelling session cuts batches, trains and builds evaluation sets."""
        from agile.session import SessionSettings  # the library loads torch; `agile --help` need not

        return SessionSettings(batch_size=self.batch_size, per_phrase=self.per_phrase,
                               random_negatives=self.random_negatives, eval_versions=self.eval_versions,
                               eval_per_stratum=self.eval_per_stratum, cross_validate=self.cross_validate,
                               recipe=self.recipe, **({"learner": self.learner} if self.learner else {}))

    @property
    def served_hosts(self) -> list[str]:
        """Host header names answered: in dev mode only loopback ones, so DNS rebinding cannot reach it."""
        if self.dev:
            return [h for h in self.allowed_hosts if h != "*"] or [*LOOPBACK_HOSTS, "*.localhost"]
        return self.allowed_hosts

    @property
    def db_path(self) -> Path:
        return database_path(self.data)
