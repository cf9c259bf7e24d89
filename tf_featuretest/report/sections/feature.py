"""The feature-level section: r-separation, the case checker and its calibration, latent and DCGAN cases,
failure searches, health of the generative models, generative metrics, and human review."""
from __future__ import annotations

import dataclasses

from ..._util.io import nan_to_none
from ..html import Section, Table
from .common import pct
from .review import review_block, with_reviews


def _num(v, fmt="{:.3f}"):
    v = nan_to_none(v)
    return "n/a" if v is None else fmt.format(v)


def _separation_text(pix, lat, latent_dim) -> str:
    def source(s):
        tt, te = s["train_train_min"], s["test_train_min"]
        if te is not None and te < tt:
            return f"the closest test image to a training image of another class ({te:.3f})"
        return f"the closest pair of training images of different classes ({tt:.3f})"

    return (f"Yang et al. (2020) call a data set r-separated when differently labelled points are at least 2r apart. "
            f"In pixel space (L-inf) r = {pix['r']:.4f}, half of {source(pix)}; in the VAE's {latent_dim}-d latent "
            f"space (L2) r = {lat['r']:.4f}, half of {source(lat)}.")


def _committee_text(r) -> str:
    com = r["committee"]
    acc = com.get("accuracies", {})
    parts = [f"{m['name']} {pct(acc.get(m['name']))}" for m in com["members"]]
    return (f"Each generated case answers two questions separately. In distribution: its pixel-space k-NN distance "
            f"to the training images and its ELBO are within thresholds set on the validation split. Label kept: a "
            f"committee of {len(com['members'])} classifiers that this run trained on the training split (test "
            f"accuracy {', '.join(parts)}), never the model under test, must all vote the case's label with "
            f"probability >= {com['agree']:g}. A case is a valid test only if both hold; when the committee is "
            f"unsure the case is ambiguous and never counts as a failure.")


def _calibration_text(cal) -> str:
    rows = cal["rows"]
    met = sum(1 for x in rows if x["passed"])
    first = rows[0]
    text = (f"Calibration on the {cal['split']} split: {met} of {len(rows)} targets met; real images with their true "
            f"label are accepted {pct(first['rate'])} (target {pct(first['target'])})")
    if cal["failed"]:
        return text + f"; missed: {', '.join(cal['failed'])}."
    return text + ", and every wrong-label, noise, inverted, shape and blend set is rejected or flagged as required."


def _anchor_text(lt) -> str:
    a, s = lt["anchors"], lt["radius"]["search"]
    kind = lt["radius"]["kind"]
    text = (f"Anchors examined: {s['anchors']} for {sum(a['quota_per_class'])} wanted; skipped: "
            f"{s['skipped_reconstruction']} whose own reconstruction is not a valid case")
    if kind == "found":
        text += (f", {s['skipped_no_radius']} where no radius kept {pct(s['target'])} of the samples valid; "
                 f"used: {s['usable']}")
        ratio = s["ratio_to_margin_percentiles"]
        if s["usable"]:
            text += (f", {s['at_upper_bound']} of them at their full margin r_i (median found radius "
                     f"{_num(s['radius_percentiles'].get('50'))}, {_num(ratio.get('50'), '{:.2f}')} of r_i)")
    else:
        text += f"; used: {s['usable']}, with the {lt['radius']['factor']:g} x {kind} radius"
    return text + "."


def _cases_text(lt, classifier) -> str:
    n, v = lt["num_cases"], lt["num_valid"]
    if n == 0:
        return "No latent cases were generated (no usable anchor)."
    per = lt["per_class_valid"] or [0]
    text = f"{v} of {n} latent cases are valid (yield {pct(lt['yield'])})."
    if v < n:
        text += (f" Of the {n - v} others, {lt['num_ambiguous']} are ambiguous, {lt['num_changed']} have a changed "
                 f"label and {lt['num_out_of_distribution']} are out of distribution (a case can be both).")
    if v == 0:
        return text + f" With no valid case, nothing is said about {classifier}'s accuracy on them."
    text += f" Valid cases per class range from {min(per)} to {max(per)} (fair share {v / len(per):.1f})."
    text += (f" {classifier} gets {pct(lt['accuracy_on_valid'])} of the valid cases right: "
             f"{lt['num_confirmed_failures']} confirmed failure{'s' if lt['num_confirmed_failures'] != 1 else ''}")
    if lt["num_wrong_ambiguous"]:
        text += f"; its {lt['num_wrong_ambiguous']} wrong answers on ambiguous cases do not count"
    return text + "."


def _search_text(rows, classifier) -> str:
    if not rows:
        return ""
    calls = rows[0]["budget_per_anchor"]
    bits = [f"{x['method']} {x['confirmed']} ({_num(x['confirmed_per_minute'], '{:.0f}')} per minute)" for x in rows]
    return (f"Searching for failures with {calls} calls to {classifier} per anchor found, deduplicated: "
            f"{', '.join(bits)}.")


def _gan_text(gt) -> str:
    if gt["num_cases"] == 0:
        return ""
    text = (f"Of {gt['num_cases']} DCGAN images, {pct(gt['yield'])} are valid by the same checker "
            f"({gt['num_ambiguous']} ambiguous)")
    if gt["num_valid"]:
        text += f", with accuracy {pct(gt['accuracy_on_valid'])} on the valid ones"
    return text + "."


def _review_text(rv) -> str:
    if rv["failures"] == 0:
        return "There is no confirmed failure to review."
    total = rv.get("total_confirmed", rv["failures"])
    shown = (f"All {total} confirmed failures are" if total == rv["failures"] else
             f"{rv['failures']} of the {total} confirmed failures (one per anchor in turn) are")
    if rv["reviewed"] == 0:
        return f"{shown} shown below for review; none has a human verdict in reviews.json yet."
    return (f"{shown} shown below for review; {rv['reviewed']} have a human verdict in reviews.json: "
            f"{rv['human_confirmed']} human-confirmed (label right), {rv['label_wrong']} label wrong, "
            f"{rv['unclear']} unclear.")


def reading(r) -> str:
    """The section's paragraph, from ``results["feature"]`` only."""
    w = r["writer"]
    classifier = w["classifier"]
    lt, gt, gm = r["latent_tests"], r["gan_tests"], r["generative_metrics"]
    parts = [_separation_text(r["separation"]["pixel"], r["separation"]["latent"], r["vae"]["latent_dim"]),
             _committee_text(r), _calibration_text(r["calibration"]), _anchor_text(lt), _cases_text(lt, classifier),
             _search_text(r["search"], classifier), _gan_text(gt), _review_text(r["review"]),
             f"FID of DCGAN samples against test images is {gm['fid']['fid']:.2f} in {classifier}'s feature space (not "
             f"Inception's: compare only within this report); real test images against as many training images give "
             f"{gm['real_reference']['fid']['fid']:.2f}, the floor.",
             f"Anchor pool: {w['coverage']}."]
    return " ".join(p for p in parts if p)


def tables(r) -> tuple:
    pix, lat = r["separation"]["pixel"], r["separation"]["latent"]
    gm = r["generative_metrics"]
    cal = Table(("set", "n", "passes when", "rate", "target", "met", "in distr.", "kept", "ambiguous"),
                tuple((x["set"], x["n"], x["goal"], pct(x["rate"]), pct(x["target"]), x["passed"],
                       pct(x["in_distribution"]), pct(x["kept"]), pct(x["ambiguous"])) for x in r["calibration"]["rows"]),
                f"Calibration of the case checker ({r['calibration']['split']} split; in distr., kept, ambiguous: "
                "shares of the set)")
    acc = r["committee"].get("accuracies", {})
    com = Table(("member", "kind", "test accuracy"),
                tuple((m["name"], m["kind"], pct(acc.get(m["name"]))) for m in r["committee"]["members"])
                + (("committee", "keeps the true label", pct(acc.get("committee kept"))),),
                "The label committee (trained on the training split)")
    rows = []
    for gen, key in (("VAE latent", "latent_tests_by_classifier"), ("DCGAN", "gan_tests_by_classifier")):
        for name, v in r[key].items():
            if v["num_cases"]:
                rows.append((name, gen, v["num_cases"], v["num_valid"], pct(v["yield"]), v["num_ambiguous"],
                             pct(v["accuracy_on_valid"]), v["num_confirmed_failures"]))
    cases = Table(("classifier", "generator", "cases", "valid", "yield", "ambiguous", "accuracy on valid",
                   "confirmed failures"), tuple(rows), "Generated test cases (the same cases for every classifier)")
    search = Table(("method", "model calls", "wrong, checked", "confirmed", "per minute", "per 1000 calls",
                    "anchors", "seconds"),
                   tuple((x["method"], x["model_calls"], x["wrong"], x["confirmed"], x["confirmed_per_minute"],
                          x["confirmed_per_1000_calls"], x["anchors_with_failures"], x["seconds"]) for x in r["search"]),
                   "Failure search at equal model calls (confirmed failures, deduplicated; anchors: with a failure)")
    health = Table(("model", "check", "value", "limit", "passed"),
                   tuple((h["model"], c["name"], c["value"], c["threshold"], c["passed"])
                         for h in r["health"].values() for c in h["checks"]),
                   "Health of the generative models (a failed check is a warning at the top of this section)")
    sep = Table(("space", "norm", "train-train min", "test-train min", "r"),
                (("pixel", "L-inf", pix["train_train_min"], pix["test_train_min"], pix["r"]),
                 ("VAE latent", "L2", lat["train_train_min"], lat["test_train_min"], lat["r"])), "r-separation")
    fid, kid = gm["fid"], gm["kid"]
    gen = Table(("metric", "value", "note"),
                (("FID", fid["fid"], f"{fid['n_real']} real vs {fid['n_generated']} generated"),
                 ("KID", kid["kid"], f"+/- {kid['kid_std']:.4f}"),
                 ("IS (generated)", gm["inception_score"]["score"],
                  f"real images: {gm['real_inception_score']['score']:.2f}"),
                 ("FID, real vs real", gm["real_reference"]["fid"]["fid"], "test vs training images: the floor"),
                 ("KID, real vs real", gm["real_reference"]["kid"]["kid"],
                  f"+/- {gm['real_reference']['kid']['kid_std']:.4f}")), f"Generative metrics in {fid['feature_extractor']}")
    out = [cal, com, cases]
    if r["search"]:
        out.append(search)
    return tuple(out + [health, sep, gen])


def section(r: dict, figures, *, review_cases=(), class_names=None, reviews=None) -> Section:
    """``r`` is ``results["feature"]``; ``review_cases`` the ``(failure, image, anchor image)`` triples to review."""
    members = [m["name"] for m in r["committee"]["members"]]
    block = review_block(list(review_cases), members=members, class_names=class_names, reviews=reviews)
    return Section("feature", "Feature-level tests", reading(r), figures=tuple(figures), tables=tables(r),
                   warnings=tuple(r.get("warnings", ())), html=block)


def refreshed(sec: Section, r: dict, reviews) -> Section:
    """``sec`` with its text and embedded reviews brought up to date (after a cached stage was restored)."""
    return dataclasses.replace(sec, reading=reading(r), html=with_reviews(sec.html, reviews))
