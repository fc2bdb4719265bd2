"""Evaluation sets and metrics (paper §4.2, App. E): URI hashes, stratified sets, AUC-PR and friends."""
from agile.evaluation.hashing import SIPHASH_KEY, corpus_uri_hashes, hash_fraction, siphash64, uri_hashes
from agile.evaluation.metrics import METRIC_NAMES, Metrics, compute_metrics
from agile.evaluation.multiclass import TASK_METRIC_NAMES, TaskMetrics, compute_task_metrics
from agile.evaluation.stratified import StrataSpec, merged_stratified_ids, stratified_ids, stratum_of

__all__ = ["METRIC_NAMES", "Metrics", "SIPHASH_KEY", "StrataSpec", "TASK_METRIC_NAMES", "TaskMetrics",
           "compute_metrics", "compute_task_metrics", "corpus_uri_hashes", "hash_fraction", "merged_stratified_ids",
           "siphash64", "stratified_ids", "stratum_of", "uri_hashes"]
