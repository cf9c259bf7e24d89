"""The AdvGAN section: learned adversarial noise against random noise and PGD, per family, and its transfer."""
from __future__ import annotations

from ..html import Section, Table
from .common import pct


def _fmt(v, digits=1):
    return "n/a" if v is None else f"{v:.{digits}f}"


def _num(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def family_rows(r: dict) -> list:
    """One row per family (the pixel budget first): learned against random at the training budget."""
    rows, train = [], r.get("training", {})
    px = r["pixel"]
    if "untargeted" in px:
        rnd = px["random"][-1]
        rows.append(("pixel (L-inf)", "uniform", f"eps {px['values'][-1]:g}", px["untargeted"]["success_rate"][-1],
                     rnd["mean"], rnd["best_draw"], rnd["any"], train.get("pixel", {}).get("seconds")))
    for f in r["families"]:
        rnd = f["random"][-1]
        rows.append((f["family"], f["noise"], f"severity {f['learned']['values'][-1]:g}",
                     f["learned"]["success_rate"][-1], rnd["mean"], rnd["best_draw"], rnd["any"],
                     train.get(f["family"], {}).get("seconds")))
    return rows


def _families_text(rows, draws) -> str:
    """Per family: the learned success against the strongest of its random noises (mean and any-of-draws)."""
    best = {}
    for row in rows:
        if row[3] is not None and row[4] is not None and (row[0] not in best or row[4] > best[row[0]][4]):
            best[row[0]] = row
    known = list(best.values())
    if not known:
        return ""
    beat_mean = [row for row in known if row[3] > row[4]]
    beat_any = [row for row in known if row[6] is not None and row[3] > row[6]]
    parts = ", ".join(f"{row[0]} {pct(row[3])} against {pct(row[4])} for {row[1]} (fooled by any of {draws} draws: "
                      f"{pct(row[6])})" for row in known)
    text = (f" Confined to a structured noise family at the same budget as that noise's random draws, the learned "
            f"worst case beats the mean random draw for {len(beat_mean)} of {_num(len(known), 'family', 'families')} and the "
            f"best of {draws} draws per image for {len(beat_any)}: {parts}"
            + (" (a family with two noises is compared with the stronger)" if len(rows) > len(known) else "") + ".")
    if {"patch", "sticker"} & set(best):
        text += (" The learned patch and stickers choose their content or colour and their place; the noises draw "
                 "the place and use grey (occlusion) or random colours (patches).")
    worse = [row[0] for row in known if row[3] <= row[4]]
    if worse:
        text += (f" For {', '.join(worse)} the trained generator did not beat random draws: its training did not "
                 "find that family's worst case, which is at least as strong as the random draws.")
    return text


def _targeted_text(t) -> str:
    ok = [(k, v) for k, v in enumerate(t["success"]) if v is not None]
    if not ok:
        return ""
    lo, hi = min(ok, key=lambda kv: kv[1]), max(ok, key=lambda kv: kv[1])
    return (f" Given a target class as a second input, the same generator makes the classifier output that class for "
            f"{pct(t['mean'])} of the images on average over the {len(ok)} targets (from {pct(lo[1])} for class "
            f"{lo[0]} to {pct(hi[1])} for class {hi[0]}).")


def _transfer_text(rows, first) -> str:
    others = [row for row in rows if not row["white_box"]]
    if not others:
        return " The run has one classifier, so the transfer of these images to other classifiers is not measured."
    parts = "; ".join(f"{row['classifier']}: {pct(row['advgan_success'])} (PGD's images: {pct(row['pgd_success'])})"
                      for row in others)
    return (f" The images made against {first} were also shown to the run's other classifiers, which never took part "
            f"in training the generator: {parts}.")


def _timing_text(t, eps, pgd_success) -> str:
    adv_ms, pgd_ms = 1e3 * t["advgan_seconds_per_image"], 1e3 * t["pgd_seconds_per_image"]
    speed = t.get("speedup")
    how = ("as fast as" if speed is None or abs(speed - 1) < 0.05 else
           f"{speed:.0f} times faster than" if speed >= 2 else f"{speed:.1f} times faster than" if speed > 1 else
           f"{1 / speed:.1f} times slower than")
    return (f" One generator pass took {adv_ms:.3f} ms per image here, {how} {t['pgd_steps']}-step PGD on the same "
            f"images ({pgd_ms:.3f} ms per image), which reaches {pct(pgd_success)} at eps {eps:g} (wall time in this "
            f"run, {t['images']} images in one batch; benchmarks/attacks.py measures the throughput at batch 128).")


def _training_text(train, families) -> str:
    px = train.get("pixel", {})
    fam = [train[f] for f in families if f in train]
    text = f" Training cost: {_fmt(px.get('seconds'))} s for the pixel generator ({_num(px.get('epochs', 0), 'epoch')})"
    if fam:
        text += (f" and {_fmt(sum(f['seconds'] for f in fam))} s for the {_num(len(fam), 'family generator')} "
                 f"({_num(fam[0]['epochs'], 'epoch')} each)")
    cpu = [v.get("cpu_seconds") for v in (px, *fam)]
    if all(c is not None for c in cpu):
        text += f", {_fmt(sum(cpu))} s of CPU time in all"
    reused = [k for k, v in train.items() if v.get("reused")]
    text += "."
    if reused:
        text += (f" {_num(len(reused), 'generator')} of this run came from an earlier run with the same data and "
                 "settings; the times are the ones measured when they were trained.")
    return text


def section(r: dict, figures, *, coverage: str) -> Section:
    """``r`` is ``results["advgan"]`` (see :mod:`tf_featuretest.pipeline.stages.advgan`)."""
    first, px, timing = r["classifier"], r["pixel"], r["timing"]
    draws = px["random"][0]["draws"] if px["random"] else 0
    white = next((row for row in r["transfer"] if row["white_box"]), {})
    text = (f"A generator trained against {first} on the {r['train_images']} training images turns an image into an "
            f"adversarial one in a single forward pass (AdvGAN, Xiao et al., 2018): no gradient of the classifier, "
            f"no iterations. None of the {timing['images']} test images scored here was seen in training.")
    if "untargeted" in px:
        rnd = px["random"][-1]
        text += (f" With every pixel moved by at most eps = {r['eps']:g}, it makes {first} misclassify "
                 f"{pct(px['untargeted']['success_rate'][-1])} of the test images it classified correctly, where "
                 f"uniform random noise within the same eps does so for {pct(rnd['mean'])} (mean of {draws} draws; "
                 f"{pct(rnd['any'])} fooled by at least one draw).")
    if "targeted" in px:
        text += _targeted_text(px["targeted"])
    text += _timing_text(timing, r["eps"], white.get("pgd_success"))
    rows = family_rows(r)
    text += _families_text(rows[1:] if "untargeted" in px else rows, draws)
    text += _transfer_text(r["transfer"], first)
    text += _training_text(r.get("training", {}), list(dict.fromkeys(f["family"] for f in r["families"])))
    text += f" Scored on {coverage}."
    if timing["images"] < 100:
        text += f" With only {timing['images']} images, differences of a few points are within chance."
    tables = [Table(("family", "random noise", "budget", "learned success", f"random: mean of {draws} draws",
                     f"random: best of {draws} draws", f"random: image fooled by any of {draws}", "training s"),
                    tuple(rows),
                    "Learned worst case against random draws of the same family at the same budget (success rate on "
                    f"{first})")]
    if "targeted" in px:
        tables.append(Table(("target class", f"success at eps {px['targeted']['eps']:g}"),
                            tuple(enumerate(px["targeted"]["success"])), "Targeted success per target class"))
    tables.append(Table(("classifier", "clean accuracy", "AdvGAN success", "AdvGAN targeted success (target y+1)",
                         f"PGD-{timing['pgd_steps']} success"),
                        tuple((row["classifier"] + (" (attacked)" if row["white_box"] else ""), row["clean_accuracy"],
                               row["advgan_success"], row["advgan_targeted_success"], row["pgd_success"])
                              for row in r["transfer"]),
                        f"Transfer: images made against {first} (AdvGAN and PGD at eps {r['eps']:g}) on every classifier"))
    tables.append(Table(("method", "ms per image", f"success on {first}"),
                        (("AdvGAN (one pass)", 1e3 * timing["advgan_seconds_per_image"],
                          px["untargeted"]["success_rate"][-1] if "untargeted" in px else None),
                         (f"PGD-{timing['pgd_steps']}", 1e3 * timing["pgd_seconds_per_image"], white.get("pgd_success"))),
                        f"Time per image at eps {r['eps']:g}"))
    return Section("advgan", "Learned adversarial noise (AdvGAN)", text, figures=tuple(figures), tables=tuple(tables))
