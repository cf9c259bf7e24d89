"""The adversarial-attacks section: accuracy under FGSM and PGD, targeted PGD, one pixel, fooling images."""
from __future__ import annotations

from ..html import Section, Table
from .common import pct, share

#: The budget the section's sentences quote (the swept eps nearest to it, among the non-zero ones).
QUOTED_EPS = 0.1
#: An accuracy drop (in accuracy points) below this counts as "barely changes".
SMALL_DROP = 0.05


def rows(r: dict, classifiers) -> list:
    """One table row per classifier: name, clean, eps, FGSM, PGD, targeted success."""
    out = []
    for name in classifiers:
        res = r[name]
        eps = res["fgsm"]["values"]
        cand = [k for k in range(len(eps)) if eps[k] > 0] or list(range(len(eps)))
        i = min(cand, key=lambda k: abs(eps[k] - QUOTED_EPS))
        out.append((name, res["fgsm"]["clean_accuracy"], eps[i], res["fgsm"]["accuracy"][i], res["pgd"]["accuracy"][i],
                    res["targeted_pgd"]["success_rate"][0]))
    return out


def _fall(clean: float, after: float, how: str) -> str:
    if clean is None or after is None:
        return f"is not measured under {how}"
    if clean - after < SMALL_DROP:
        return (f"stays at {pct(after)} under {how}" if abs(clean - after) < 5e-4
                else f"barely moves, to {pct(after)} under {how}")
    return f"falls to {pct(after)} under {how}"


def section(r: dict, figures, *, classifiers, pgd_steps: int, targeted_eps: float, coverage: str) -> Section:
    """``r`` is ``results["attacks"]``: per classifier the sweeps, plus ``one_pixel`` and ``fooling``."""
    table = rows(r, classifiers)
    name, clean, eps, fgsm_acc, pgd_acc, targeted = table[0]
    op, fool = r["one_pixel"], r["fooling"]
    n = r[name]["fgsm"]["num_examples"]
    parts = []
    if eps == 0:
        parts.append(f"Only eps = 0 was swept, so no image was changed: {name} gets {pct(clean)} of them right.")
    elif clean == 0:
        parts.append(f"{name} gets none of the {n} attacked images right even before an attack, so there is "
                     f"nothing for the attacks to break.")
    else:
        strong = clean - pgd_acc >= SMALL_DROP or clean - fgsm_acc >= SMALL_DROP
        parts.append(("Small, bounded changes to the pixels break the classifiers. " if strong else
                      "Small, bounded changes to the pixels barely affect the classifiers at this budget. ")
                     + f"At eps = {eps:g} (each pixel moved by at most {eps:g} on a 0-1 scale) {name}'s accuracy of "
                     f"{pct(clean)} {_fall(clean, fgsm_acc, 'one FGSM step')} and "
                     f"{_fall(clean, pgd_acc, f'{pgd_steps}-step PGD')}.")
    tgt_n = r[name]["targeted_pgd"]["num_examples"]
    parts.append(f"Targeted PGD at eps {targeted_eps:g} made it output the chosen wrong class for "
                 f"{share(targeted, tgt_n, 'image')}.")
    parts += [f"{row[0]}: {pct(row[3])} (FGSM) and {pct(row[4])} (PGD) from {pct(row[1])}." for row in table[1:]]
    wrong = op.get("num_already_wrong", 0)
    parts.append(f"Changing a single pixel made {op['classifier']} misclassify "
                 f"{share(op['success_rate'], op.get('num_eligible', op['num_images']), 'image')} it classified "
                 f"correctly before the one-pixel attack"
                 + (f" ({wrong} of the {op['num_images']} attacked images were misclassified already and are not "
                    f"counted)." if wrong else "."))
    parts.append(f"Gradient ascent from noise produced images {fool['classifier']} assigns to the wanted class with at "
                 f"least {fool['threshold']:.0%} confidence for {share(fool['success_rate'], fool['num_images'], 'class')}.")
    parts.append(f"Attacked: {coverage}.")
    return Section("attacks", "Adversarial attacks", " ".join(parts), figures=tuple(figures), tables=(
        Table(("classifier", "clean", "eps", "FGSM", f"PGD-{pgd_steps}", f"targeted PGD success (eps {targeted_eps:g})"),
              tuple(table), "Accuracy under attack"),))
