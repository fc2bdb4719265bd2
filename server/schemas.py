"""Request and response bodies: one pydantic model per direction."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from agile.sampling import STRATEGIES

INT64_MAX = 2**63 - 1  # SQLite's and numpy's integers: anything larger cannot be stored or indexed


def _encodable(text: str) -> str:
    """Refuse lone surrogates (valid JSON escapes, but no UTF-8 text can hold them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


Text = Annotated[str, AfterValidator(_encodable)]
Phrase = Annotated[Text, Field(min_length=1, max_length=200)]
Phrases = Annotated[list[Phrase], Field(max_length=50)]
CorpusId = Annotated[int, Field(ge=0, le=INT64_MAX)]
Strategy = Literal[tuple(STRATEGIES)]  # the library's registry of query strategies
Purpose = Literal["training", "evaluation"]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
Seconds = Annotated[float, Field(ge=0, le=3600)]


class Strict(BaseModel):
    # NaN and Infinity parse as JSON numbers in Python but are never valid input here.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where: body, path or query, then field names and positions")
    msg: str
    type: str


class ErrorPublic(BaseModel):
    """Every error answer: a message, and for invalid requests where each problem is."""
    detail: str
    errors: list[FieldError] | None = Field(None, description="validation problems (422 only)")


# -- concepts ----------------------------------------------------------------------------
Scalar = StrictInt | float | Annotated[Text, Field(max_length=1000)]


class CandidatesBody(Strict):
    """Where batches may come from: ``ids``, or one metadata column compared with a value
    (``{"column": "split", "op": "==", "value": "train"}``)."""
    ids: list[CorpusId] | None = Field(None, max_length=10_000_000, description="only these corpus ids")
    column: Annotated[Text, Field(min_length=1, max_length=200)] | None = Field(
        None, description="a metadata column of the corpus")
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"] = "=="
    value: Scalar | Annotated[list[Scalar], Field(max_length=10_000)] | None = Field(
        None, description="a number or text; a list for 'in' / 'not in'")

    @model_validator(mode="after")
    def _valid_filter(self) -> "CandidatesBody":
        from agile.candidates import CandidateFilter

        CandidateFilter.model_validate(self.model_dump())  # the library's rules, as a 422 with its place
        return self


class CategoryIn(Strict):
    name: Name = Field(description="the category's name, also its first phrase")
    phrases: Phrases = Field([], description="more phrases for this category (refused on a corpus without a "
                                             "text model)")
    seed_ids: list[CorpusId] = Field([], max_length=1000, description="example images of this category")


class CategoryPublic(BaseModel):
    name: str
    phrases: list[str] = Field(description="its name first")
    seed_ids: list[int] = Field(description="example images of the corpus given for it")


class ConceptCreate(Strict):
    name: Name
    positives: Phrases = Field([], description="more positive phrases (refused on a corpus without a text model)")
    negatives: Phrases = Field([], description="negative phrases (refused on a corpus without a text model)")
    categories: Annotated[list[CategoryIn], Field(min_length=2, max_length=10)] | None = Field(
        None, description="a multi-category task instead of a binary concept: 2 to 10 categories, each with "
                          "its phrases and example images; its images are rated by class ('category' "
                          "in a rating), not positive or negative")
    none_of_these: StrictBool = Field(False, description="a task's last class is 'none of these' (random "
                                                         "unrated images train as it)")
    seed_ids: list[CorpusId] = Field([], max_length=1000, description="example images of the corpus: expansion "
                                     "also takes the nearest unrated images of each")
    candidates: CandidatesBody | None = Field(None, description="limit expansion and active learning to part of "
                                              "the corpus")
    expand: StrictBool = Field(True, description="start expansion now; false: add image seeds first "
                                                 "(POST .../seeds/images), then start an 'expand' job")

    @model_validator(mode="after")
    def _one_kind(self) -> "ConceptCreate":
        if self.categories is not None and (self.positives or self.negatives):
            raise ValueError("a task's phrases belong to its categories: leave 'positives' and 'negatives' out")
        if self.categories is None and self.none_of_these:
            raise ValueError("'none_of_these' is a class of a task: give 'categories' too")
        return self


_LIST_EDIT = "replaces the list; left out: emptied on a phrase edit, kept on a rename"


class ConceptUpdate(Strict):
    """Phrases, a new name, or both; what is left out is kept (a rename alone keeps the phrases)."""
    name: Name | None = Field(None, description="a new name (unique among the owner's concepts); it "
                                                 "replaces the old name as the first positive phrase")
    positives: Phrases | None = Field(None, description=_LIST_EDIT)
    negatives: Phrases | None = Field(None, description=_LIST_EDIT)


class ConceptPublic(BaseModel):
    id: int
    name: str
    owner: str
    positives: list[str]
    negatives: list[str]
    created_at: str
    updated_at: str
    rated: int = Field(description="images rated for training")
    rated_positive: int
    evaluation_rated: int = Field(description="images of the evaluation sets rated (never trained on)")
    skipped: int = Field(0, description="images answered \"can't tell\": never trained on, never offered again")
    latest_version: int | None
    job: "JobPublic | None" = Field(None, description="the concept's most recent job")
    seeds: int = Field(0, description="image seeds (corpus images and uploads; GET .../seeds lists them)")
    candidates: dict[str, Any] | None = Field(None, description="where its batches may come from (null: anywhere)")
    categories: list[CategoryPublic] | None = Field(None, description="a multi-category task's categories "
                                                                      "(null: a binary concept)")
    classes: list[str] | None = Field(None, description="a task's classes in index order: its categories, then "
                                                        "'none of these' if it has it; a rating's 'category' "
                                                        "is an index into this list")


class ReadersPublic(BaseModel):
    concept_id: int
    readers: list[str] = Field(description="users the owner shared the concept with")


# -- batches and ratings ----------------------------------------------------------------------
class BatchItem(BaseModel):
    id: int
    image_url: str
    rating: bool | None = Field(description="true / false once rated positive / negative; null if unrated "
                                             "or skipped (and for a task)")
    category: int | None = Field(None, description="a task's answer: the class index (null if unrated or skipped)")
    skipped: bool = Field(False, description="answered \"can't tell\"")


class BatchPublic(BaseModel):
    id: int
    concept_id: int
    round: int
    source: str
    purpose: Purpose = Field(description="training (expansion or active learning) or evaluation (its ratings "
                                         "measure the models and are never trained on)")
    model_version: int | None
    created_at: str
    size: int
    rated: int = Field(description="images of this batch answered so far (\"can't tell\" included)")
    skipped: int = Field(0, description="images of this batch answered \"can't tell\"")
    total_rated: int = Field(description="images of the concept rated so far for this batch's purpose")
    note: str = Field("", description="how it was chosen, when that is not what was asked (e.g. no rated "
                                      "negatives, or a coverage batch)")
    items: list[BatchItem]


class Answered(Strict):
    """Exactly one answer: ``positive`` true or false (a binary concept), ``category`` (a task's class
    index), or ``skip`` true ("can't tell")."""
    positive: StrictBool | None = Field(None, description="true: shows the concept; false: does not")
    category: Annotated[StrictInt, Field(ge=0, le=10)] | None = Field(
        None, description="a task's answer: the index of its class (GET the concept for 'classes')")
    skip: StrictBool = Field(False, description="true: the owner cannot tell; stored, never trained on, "
                                                "never offered again")
    seconds: Seconds | None = Field(None, description="time spent on the image")

    @model_validator(mode="after")
    def _one_answer(self) -> "Answered":
        if (self.positive is not None) + (self.category is not None) + self.skip != 1:
            raise ValueError("give exactly one answer: 'positive' (true or false), 'category' (a task's class "
                             "index) or 'skip': true")
        return self


class RatingIn(Answered):
    id: CorpusId
    batch_id: Annotated[int, Field(ge=1)] | None = Field(
        None, description="the batch the image was shown in; when given, a rating made on a batch that is not "
                          "the concept's current one (another concept, a replaced batch) is refused with 409")


class RatingsSubmit(Strict):
    ratings: Annotated[list[RatingIn], Field(min_length=1, max_length=1000)]


class RatingChange(Answered):
    pass


class RatingPublic(BaseModel):
    id: int
    uri: str
    label: str = Field(description="positive, negative or skip; of a task, the class name or skip")
    round: int
    purpose: Purpose
    batch_id: int
    seconds: float | None
    rater: str
    time: str


class BatchSummaryPublic(BaseModel):
    id: int
    round: int
    source: str
    purpose: Purpose
    model_version: int | None
    created_at: str
    size: int
    rated: int = Field(description="answered, \"can't tell\" included")
    positive: int
    skipped: int
    note: str = ""


class RatingsPublic(BaseModel):
    concept_id: int
    rated: int = Field(description="images rated for training")
    rated_positive: int
    evaluation_rated: int = Field(description="images of the evaluation sets rated")


# -- jobs ---------------------------------------------------------------------------------------
class JobParams(BaseModel):
    """What a job keeps in its ``params`` (stored as JSON, validated when the job runs)."""
    strategy: Strategy = Field("margin", description="round: the query strategy")
    coverage: StrictBool | None = Field(None, description="expand: a batch drawn for coverage of the corpus "
                                        "(nearest k-means centres) instead of near the phrases and seeds")
    version: Annotated[int, Field(ge=1)] | None = Field(None, description="score: the version (default: the latest)")
    threshold: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None, description="score: also write a `positive` column for scores at or above it")
    top: Annotated[int, Field(ge=1, le=10_000_000)] | None = Field(
        None, description="score: keep only the highest-scoring images")


class JobCreate(JobParams, Strict):
    kind: Literal["expand", "train", "round", "evaluate", "score"] = Field(
        description="expand: a new batch from the phrases; train: a new model version; "
                    "round: a new version, then the next batch chosen by it; evaluate: a stratified "
                    "evaluation batch over the latest versions and the zero-shot ranking; score: every image "
                    "of the corpus scored by a version, as Parquet (GET .../versions/{v}/scores)")


class JobPublic(BaseModel):
    id: int
    concept_id: int
    kind: str
    params: dict[str, Any]
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    percent: float
    message: str
    result: dict[str, Any] | None
    created_at: str
    started_at: str | None
    finished_at: str | None


# -- versions and scoring ---------------------------------------------------------------------------
class VersionPublic(BaseModel):
    concept_id: int
    version: int
    created_at: str
    job_id: int | None
    parent_version: int | None
    classes: list[str] | None = Field(None, description="a task's classes, in the order of its probabilities "
                                                        "(null for a binary concept)")
    labels: dict[str, Any]
    metrics: dict[str, Any]
    stability: dict[str, Any] | None = Field(
        None, description="how much the version changed the predicted labels of the corpus's fixed sample "
                          "from the version before it (share changed, Cohen's kappa) and whether the labels "
                          "have settled, so that another round of the same kind is unlikely to help; null "
                          "for a first version")
    training: dict[str, Any]
    embedding_model: dict[str, Any]
    sidecar: dict[str, Any] = Field(description="everything recorded with the version")


class ScoreRequest(Strict):
    ids: list[CorpusId] | None = None
    embeddings: list[list[float]] | None = Field(None, description="vectors of the corpus model's dimension "
                                                 "(any scale; each is normalised)")

    @model_validator(mode="after")
    def _exactly_one(self) -> "ScoreRequest":
        if (self.ids is None) == (self.embeddings is None):
            raise ValueError("give exactly one of 'ids' (corpus ids) or 'embeddings' (vectors)")
        return self


class BrowseItem(BaseModel):
    id: int
    image_url: str
    score: float
    rating: bool | None
    skipped: bool = False


class BrowsePublic(BaseModel):
    concept_id: int
    version: int
    where: Literal["top", "threshold", "bottom"]
    threshold: float
    offset: int
    total: int = Field(description="images in the corpus")
    items: list[BrowseItem]


class ScorePublic(BaseModel):
    concept_id: int
    version: int
    ids: list[int] | None = None
    scores: list[float] | None = Field(None, description="probability that each image shows the concept "
                                                         "(null for a task)")
    probabilities: list[list[float]] | None = Field(None, description="a task's: each image's probability of "
                                                                      "each class, in 'classes' order")
    classes: list[str] | None = Field(None, description="a task's classes (null for a binary concept)")


# -- evaluation ---------------------------------------------------------------------------------------
class EvaluationMetrics(BaseModel):
    auc_pr: float = Field(description="average precision: the primary metric")
    auc_roc: float
    f1: float
    accuracy: float
    ci: dict[str, list[float]] = Field(description="metric -> [low, high] bootstrap 95% interval "
                                                   "(empty without bootstrap)")


class TaskEvaluationMetrics(BaseModel):
    """A task's model: each class one-vs-rest, and the macro figures; an image is of its likeliest class."""
    classes: list[str]
    macro_auc_pr: float = Field(description="mean over classes of one-vs-rest average precision: the primary metric")
    macro_f1: float
    accuracy: float
    auc_pr: list[float | None] = Field(description="per class (null where the set holds none of it, or only it)")
    f1: list[float]
    confusion: list[list[int]] = Field(description="rows: the rated class, columns: the likeliest class")
    counts: list[int] = Field(description="rated images of each class")
    ci: dict[str, list[float]] = Field(description="metric (or 'auc_pr:<class>') -> [low, high] bootstrap 95% "
                                                   "interval (empty without bootstrap)")


class ModelEvaluation(BaseModel):
    model: str = Field(description="'v<N>' for a version, 'zero-shot' for the text cosine")
    version: int | None
    threshold: float | None = Field(description="score at and above which F1 and accuracy count a positive "
                                                "(null for a task: an image is of its likeliest class)")
    metrics: EvaluationMetrics | TaskEvaluationMetrics | None = Field(
        description="null until both classes are rated (a task: two of its classes)")


class EvaluationPublic(BaseModel):
    concept_id: int
    total: int = Field(description="images in the concept's evaluation sets")
    rated: int
    rated_positive: int = Field(description="rated positive (a task: in one of its categories)")
    batch_id: int | None = Field(description="the newest evaluation batch")
    bootstrap: int
    ready: bool = Field(description="metrics are computed (both classes rated)")
    message: str
    models: list[ModelEvaluation]


# -- server ---------------------------------------------------------------------------------------
class Me(BaseModel):
    name: str
    role: str
    dev: bool


class ServerInfo(BaseModel):
    corpus: str
    count: int
    dim: int
    model: dict[str, Any]
    index: str
    batch_size: int
    dev: bool
    strategies: list[str]
    eval_versions: int = Field(description="an evaluate job stratifies over this many latest versions")
    eval_per_stratum: int = Field(description="images per score stratum (of 10) and model in an evaluation set")
    max_wait_seconds: float = Field(description="longest ?wait a long-poll may ask for")
    text_model: bool = Field(True, description="whether phrases can be embedded; false: start concepts from "
                                               "image seeds or a coverage batch, no zero-shot")


ConceptPublic.model_rebuild()


# -- targets and export -------------------------------------------------------------------------------
class TargetSet(Strict):
    sentence: Annotated[str, Field(min_length=1, max_length=300)] | None = Field(
        None, description="e.g. '90% precision at 50% recall', 'AUC-PR 0.8, under 2 ms'")
    metric: Literal["auc_pr", "f1", "precision_at_recall", "recall_at_precision"] | None = None
    value: Annotated[float, Field(gt=0, le=1)] | None = None
    at: Annotated[float, Field(gt=0, le=1)] | None = None
    max_latency_ms: Annotated[float, Field(gt=0)] | None = None
    max_size_mb: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> "TargetSet":
        if (self.sentence is None) == (self.metric is None):
            raise ValueError("give either a sentence or a metric and a value")
        return self


class TargetStatusPublic(BaseModel):
    state: Literal["met", "not_yet", "out_of_reach", "unknown"]
    message: str
    rests_on: str
    version: int | None = None
    value: float | None = None
    interval: list[float] = []
    labels_needed: int | None = None
    labels_interval: list[float | None] = []
    asymptote: float | None = None


class TargetPublic(BaseModel):
    concept_id: int
    target: dict[str, Any]
    understood: str = Field(description="the target in words, as the server read it")
    sentence: str | None
    set_at: str
    status: TargetStatusPublic | None = Field(None, description="against the rated evaluation set")
    refusal: str | None = Field(None, description="why the target cannot be judged yet")
