"""The saliency section: what the predictions depend on, clean and after an attack."""
from __future__ import annotations

from ..html import Section


def section(r: dict, figures, *, coverage: str) -> Section:
    """``r`` is ``results["saliency"]``: per classifier the layer and images, plus ``adversarial``."""
    adv = r["adversarial"]
    reading = ("Saliency maps show which pixels the prediction depends on: the plain gradient, SmoothGrad (the "
               "gradient averaged over noisy copies, less speckled) and Grad-CAM (which regions of the last "
               "convolutional layer support the predicted class). For misclassified images they show what the model "
               f"looked at instead; after a PGD attack that changed {adv['prediction_changed']} of {adv['images']} "
               "predictions, the maps move to the pixels the attack altered rather than to the digit's strokes. "
               f"Examples are picked from {coverage}.")
    return Section("saliency", "Saliency maps", reading, figures=tuple(figures))
