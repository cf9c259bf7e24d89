"""The look-alike section: the feature-space attack against targeted PGD at one budget."""
from __future__ import annotations

from ..html import Section, Table
from .common import share


def section(r: dict, figures, *, eps: float, coverage: str) -> Section:
    """``r`` is ``results["lookalike"]``: classifier, eps, targets, feature_space and pgd stats."""
    name, fs, pg = r["classifier"], r["feature_space"], r["pgd"]
    n = fs["num_examples"]
    reading = (f"Given an image and a wanted label, the feature-space attack changes the image, by at most {eps:g} "
               f"per pixel, so that {name} puts it in the wanted class, by pulling its penultimate-layer features towards "
               f"that class's typical feature vector (the class centroid). It reached the wanted label for "
               f"{share(fs['success_rate'], n, 'test image')}, with a mean SSIM of {fs['ssim']:.3f} to the original "
               f"(1 = identical); targeted PGD at the same budget reached it for "
               f"{share(pg['success_rate'], pg['num_examples'], 'image')}, with SSIM {pg['ssim']:.3f}. "
               f"Images: {coverage}.")
    rows = tuple((s["method"], s["success_rate"], s["linf"], s["l2"], s["psnr"], s["ssim"], s["seconds"])
                 for s in (fs, pg))
    return Section("lookalike", "Targeted look-alike images", reading, figures=tuple(figures),
                   tables=(Table(("method", "success", "L-inf", "L2", "PSNR (dB)", "SSIM", "seconds"), rows,
                                 f"Feature-space attack vs targeted PGD, eps {eps:g}"),))
