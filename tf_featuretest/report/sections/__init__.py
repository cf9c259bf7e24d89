"""The report's sections, one writer per stage: numbers in, a :class:`~tf_featuretest.report.html.Section` out.

Each writer takes the stage's JSON-able results (what goes into ``results.json``) and the figures
the stage drew, and writes the section's paragraph from the numbers alone, so its sentences can be
tested on edge inputs without running a model.
"""
from . import advgan, attacks, classifier, data, evaluate, export, feature, lookalike, noise, saliency

__all__ = ["advgan", "attacks", "classifier", "data", "evaluate", "export", "feature", "lookalike", "noise", "saliency"]
