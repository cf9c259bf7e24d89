"""Metrics: classification (top-k, per-class report, confusion matrix) and generative (FID, KID, IS)."""
from .classification import (
                             ClassificationReport,
                             classification_report,
                             confusion_matrix,
                             evaluate_classifier,
                             predict_logits,
                             top_k_accuracy,
)
from .generative import (
                             FIDResult,
                             GenerativeReport,
                             InceptionScoreResult,
                             KIDResult,
                             check_comparable,
                             compute_features,
                             fid,
                             fid_from_features,
                             frechet_distance,
                             generative_report,
                             inception_score,
                             inception_score_from_logits,
                             kid,
                             kid_from_features,
)

__all__ = ["ClassificationReport", "FIDResult", "GenerativeReport", "InceptionScoreResult", "KIDResult",
           "check_comparable", "classification_report", "compute_features", "confusion_matrix", "evaluate_classifier",
           "fid", "fid_from_features", "frechet_distance", "generative_report", "inception_score",
           "inception_score_from_logits", "kid", "kid_from_features", "predict_logits", "top_k_accuracy"]
