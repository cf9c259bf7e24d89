"""The stages of ``featuretest run``, one module each; every stage is ``run(ctx)`` on the run's context.

A stage calls the library, stores its numbers in ``ctx.results[<stage>]``, draws its figures into
the report folder and appends the section its writer (:mod:`tf_featuretest.report.sections`)
makes from those numbers.
"""
from . import advgan, attacks, classifier, data, evaluate, export, feature, lookalike, noise, saliency

#: stage name -> ``run(ctx)``, in the order a run calls them (the report comes last, from the runner).
STAGE_FUNCS = {"data": data.run, "classifier": classifier.run, "evaluate": evaluate.run, "attacks": attacks.run,
               "noise": noise.run, "advgan": advgan.run, "feature": feature.run, "lookalike": lookalike.run,
               "saliency": saliency.run, "export": export.run}

__all__ = ["STAGE_FUNCS"]
