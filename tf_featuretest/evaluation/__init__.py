"""Evaluating a model under transforms: sweeps, failure thresholds, noise robustness, attack comparisons."""
from .comparison import AttackComparison, AttackStats, TargetedRun, compare_targeted, compare_with_pgd
from .robustness import (
                         NoiseRank,
                         NoiseRobustnessResult,
                         corruption_error,
                         curve_auc,
                         noise_robustness,
                         rank_noises,
                         with_baseline,
)
from .sweep import SweepResult, as_batches, sweep
from .thresholds import (
                         DEFAULT_SEVERITIES,
                         Scorer,
                         ThresholdResult,
                         bisect_threshold,
                         curve_crossing,
                         failure_threshold,
                         first_crossings,
                         threshold_from_probes,
)

__all__ = ["AttackComparison", "AttackStats", "DEFAULT_SEVERITIES", "NoiseRank", "NoiseRobustnessResult", "Scorer",
           "SweepResult", "TargetedRun", "ThresholdResult", "as_batches", "bisect_threshold", "compare_targeted",
           "compare_with_pgd", "corruption_error",
           "curve_auc", "curve_crossing", "failure_threshold", "first_crossings", "noise_robustness", "rank_noises",
           "sweep", "threshold_from_probes", "with_baseline"]
