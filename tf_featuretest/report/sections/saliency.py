"""The saliency section: what the predictions depend on, clean and after an attack."""
from __future__ import annotations

from ..html import Section
from .common import plural


def section(r: dict, figures, *, coverage: str) -> Section:
    """``r`` is ``results["saliency"]``: per classifier the layer and images shown, plus ``adversarial``."""
    adv = r["adversarial"]
    parts = ["Saliency maps show which pixels the prediction depends on: the plain gradient, SmoothGrad (the "
             "gradient averaged over noisy copies, less speckled) and Grad-CAM (which regions of the last "
             "convolutional layer support the predicted class)."]
    for name, v in r.items():
        if name in ("adversarial", "subset") or not isinstance(v, dict):
            continue
        wrong, avail = v.get("misclassified_shown", 0), v.get("misclassified_available")
        right = v["images"] - wrong
        if wrong:
            parts.append(f"For {name} the figure shows {plural(right, 'correctly classified image')} and "
                         f"{plural(wrong, 'misclassified one')}, whose maps show what it looked at instead.")
        elif avail == 0:
            parts.append(f"{name} misclassifies none of the {v.get('picked_from', v['images'])} images the examples "
                         f"are picked from, so its figure shows {plural(right, 'correctly classified image')} only.")
        else:
            parts.append(f"For {name} the figure shows {plural(right, 'correctly classified image')}.")
    n, k = adv["images"], adv["prediction_changed"]
    eps = f" at eps {adv['eps']:g}" if adv.get("eps") is not None else ""
    corr = adv.get("mean_map_correlation")
    method = {"smoothgrad": "SmoothGrad", "vanilla": "gradient", "gradcam": "Grad-CAM"}.get(adv.get("method"), "saliency")
    same = (f"; the {method} maps of the attacked images correlate with the clean ones "
            f"at r = {corr:.2f} on average (1 = the same map)" if corr is not None else "")
    if k == 0:
        parts.append(f"A PGD attack{eps} on {adv['classifier']} changed none of the {n} predictions shown, so the "
                     f"clean and attacked rows differ only by the small change to the pixels{same}.")
    else:
        parts.append(f"A PGD attack{eps} on {adv['classifier']} changed {k} of the {n} predictions shown; the attacked "
                     f"rows explain the new predictions{same}.")
    parts.append(f"Examples are picked from {coverage}.")
    return Section("saliency", "Saliency maps", " ".join(parts), figures=tuple(figures))
