"""The adversarial-attacks section: accuracy under FGSM and PGD, targeted PGD, one pixel, fooling images."""
from __future__ import annotations

from ..html import Section, Table
from .common import pct

#: The budget the section's sentences quote (the swept eps nearest to it).
QUOTED_EPS = 0.1


def rows(r: dict, classifiers) -> list:
    """One table row per classifier: name, clean, eps, FGSM, PGD, targeted success."""
    out = []
    for name in classifiers:
        res = r[name]
        eps = res["fgsm"]["values"]
        i = min(range(len(eps)), key=lambda k: abs(eps[k] - QUOTED_EPS))
        out.append((name, res["fgsm"]["clean_accuracy"], eps[i], res["fgsm"]["accuracy"][i], res["pgd"]["accuracy"][i],
                    res["targeted_pgd"]["success_rate"][0]))
    return out


def section(r: dict, figures, *, classifiers, pgd_steps: int, targeted_eps: float, coverage: str) -> Section:
    """``r`` is ``results["attacks"]``: per classifier the sweeps, plus ``one_pixel`` and ``fooling``."""
    table = rows(r, classifiers)
    r0 = table[0]
    op, fool = r["one_pixel"], r["fooling"]
    reading = (f"Small, bounded changes to the pixels break the classifiers. At eps = {r0[2]:g} (each pixel moved by "
               f"at most {r0[2]:g} on a 0-1 scale) {r0[0]}'s accuracy falls from {pct(r0[1])} to {pct(r0[3])} under "
               f"one FGSM step and to {pct(r0[4])} under {pgd_steps}-step PGD; targeted PGD at eps {targeted_eps:g} "
               f"makes it output the chosen wrong class for {pct(r0[5])} of the images. "
               + " ".join(f"{row[0]}: {pct(row[3])} (FGSM) and {pct(row[4])} (PGD)." for row in table[1:])
               + f" Changing one single pixel fooled {op['classifier']} on {pct(op['success_rate'])} of "
               f"{op['num_images']} images, and gradient ascent produced noise images it assigns to their class with "
               f"at least {fool['threshold']:.0%} confidence for {pct(fool['success_rate'])} of the classes. "
               f"Attacked: {coverage}.")
    return Section("attacks", "Adversarial attacks", reading, figures=tuple(figures), tables=(
        Table(("classifier", "clean", "eps", "FGSM", f"PGD-{pgd_steps}", f"targeted PGD success (eps {targeted_eps:g})"),
              tuple(table), "Accuracy under attack"),))
