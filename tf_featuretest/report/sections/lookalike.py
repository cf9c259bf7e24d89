"""The look-alike section: targeted methods side by side, judged by the label committee."""
from __future__ import annotations

from ..html import Section, Table
from ..style import class_label
from .common import pct, plural, share

#: What each method does, in a few words (the reading names the first one).
METHOD_TEXT = {
    "perceptual": "searches each image for the smallest change a person would notice (SSIM and a pixel "
                  "distance that costs more on flat background than on strokes and edges)",
    "cw": "Carlini-Wagner L2: the smallest change in L2 norm, found by a binary search on its constant",
    "ddn": "decoupled direction and norm: the smallest L2 change, by growing or shrinking a norm budget per image",
    "pgd": "targeted PGD within a fixed L-inf budget",
    "feature_space": "pulls the penultimate-layer features towards the target class's typical feature vector, "
                     "within a fixed L-inf budget",
}
#: Below this many images per target class, the per-target rates are flagged as resting on few images.
FEW_PER_TARGET = 10


def _judge_text(s: dict, judge: dict | None, name: str, hits: int) -> str:
    if judge is None:
        return "No independent judge was asked (judge = false), so whether they look the same is not measured. "
    if not hits:
        return ""
    members = ", ".join(m["name"] for m in judge["members"])
    return (f"The label committee ({members}: models the tool trained, not {name}) still gives the original label "
            f"to {share(s['looks_same'], hits, 'successful look-alike')}: to an independent eye they look the same "
            f"(for reference, it keeps the label of {pct(judge['originals_kept'])} of the unchanged originals). ")


def section(r: dict, figures, *, coverage: str, class_names=None) -> Section:
    """``r`` is ``results["lookalike"]``: classifier, primary method, judge, per-method stats and per-target rows."""
    name, primary, judge = r["classifier"], r["primary"], r.get("judge")
    stats = r["methods"]
    s = stats[primary]
    n = s["num_examples"]
    hits = round(s["success_rate"] * n)
    reading = (f"Given an image and a wanted label (each image gets another class in turn), each method changes the "
               f"image until {name} gives it that label. The {primary} method {METHOD_TEXT[primary]}. It reached the "
               f"wanted label for {share(s['success_rate'], n, 'test image')}, with a mean SSIM of {s['ssim']:.3f} "
               f"to the original (1 = identical) and a mean L2 change of {s['l2']:.2f}. ")
    reading += _judge_text(s, judge, name, hits)
    others = [m for m in stats if m != primary]
    if others:
        reading += "On the same images: " + "; ".join(
            f"{m} reached it for {share(stats[m]['success_rate'], n, 'image')}, SSIM {stats[m]['ssim']:.3f}"
            + (f", looks the same {pct(stats[m]['looks_same'])}" if stats[m].get("looks_same") is not None else "")
            for m in others) + f" (fixed-budget methods at L-inf {r['eps']:g}). "
    rows_t = r["per_target"][primary]
    per = n / max(1, len(rows_t))
    worst = min(rows_t, key=lambda row: row["success"])
    if worst["success"] < 1.0:
        reading += (f"The hardest wanted label was {class_label(class_names, worst['target'])}: reached for "
                    f"{share(worst['success'], worst['images'], 'image')}. ")
    if per < FEW_PER_TARGET:
        reading += (f"Each wanted label was tried on only about {per:.0f} "
                    f"{'image' if round(per) == 1 else 'images'}, so the per-target rates below rest on few images; "
                    f"raise [lookalike] images for firmer figures. ")
    reading += f"Images: {coverage}."
    rows = tuple((m, st["success_rate"], st.get("looks_same"), st["linf"], st["l2"], st["psnr"], st["ssim"],
                  st["seconds"] / max(1, st["num_examples"])) for m, st in stats.items())
    tables = [Table(("method", "success", "looks the same", "L-inf", "L2", "PSNR (dB)", "SSIM", "s / image"), rows,
                    "Every method on the same images and targets; 'looks the same' is the share of successful "
                    "look-alikes whose original label the committee keeps")]
    tables.append(Table(("wanted label", "images", "success", "looks the same", "SSIM"),
                        tuple((class_label(class_names, row["target"]), row["images"], row["success"],
                               row["looks_same"], row["ssim"]) for row in rows_t),
                        f"{primary}, per wanted label ({plural(len(rows_t), 'class')})"))
    return Section("lookalike", "Targeted look-alike images", reading, figures=tuple(figures), tables=tuple(tables))
