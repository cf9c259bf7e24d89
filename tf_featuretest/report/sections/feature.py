"""The feature-level section: r-separation, generated test cases and their validity, generative metrics."""
from __future__ import annotations

from ..html import Section, Table
from .common import pct


def section(r: dict, figures, *, classifier: str, latent_dim: int, coverage: str) -> Section:
    """``r`` is ``results["feature"]``: separation, latent_tests_by_classifier, gan_tests, generative_metrics."""
    pix, lat = r["separation"]["pixel"], r["separation"]["latent"]
    lt, gt, gm = r["latent_tests"], r["gan_tests"], r["generative_metrics"]
    reading = (f"Yang et al. (2020) call a data set r-separated when differently labelled points are at least 2r apart. "
               f"Here the closest training images of different classes are {pix['train_train_min']:.3f} apart in pixel "
               f"space (L-inf), so r = {pix['r']:.4f}, and {lat['train_train_min']:.3f} apart in the VAE's {latent_dim}-d "
               f"latent space (L2), r = {lat['r']:.4f}. Points sampled around a real image within its own margin keep its "
               f"label if the space is a faithful map, so they make labelled test cases; each was checked (nearest "
               f"training point has the same label, it re-encodes within the radius, its ELBO is typical of real "
               f"data). {pct(lt['validity_rate'])} of {lt['num_cases']} latent cases passed every check, and {classifier} "
               f"classifies {pct(lt['accuracy_on_valid'])} of the valid ones correctly (vs {pct(lt['accuracy_on_all'])} "
               f"on all). Of {gt['num_cases']} DCGAN images, {pct(gt['validity_rate'])} were valid, with accuracy "
               f"{pct(gt['accuracy_on_valid'])}. FID of DCGAN samples against test images is {gm['fid']['fid']:.2f} and "
               f"KID {gm['kid']['kid']:.4f} in {classifier}'s feature space (not Inception's, so compare only within "
               f"this report); real test images against as many real training images give FID "
               f"{gm['real_reference']['fid']['fid']:.2f} and KID {gm['real_reference']['kid']['kid']:.4f}, the scale of "
               f"a perfect generator. Anchors: {coverage}.")
    rows = [(name, "VAE latent", v["num_cases"], v["validity_rate"], v["accuracy_on_valid"], v["accuracy_on_all"])
            for name, v in r["latent_tests_by_classifier"].items()]
    rows.append((classifier, "DCGAN", gt["num_cases"], gt["validity_rate"], gt["accuracy_on_valid"],
                 gt["accuracy_on_all"]))
    fid, kid, is_, real_is = (gm["fid"], gm["kid"], gm["inception_score"], gm["real_inception_score"])
    return Section("feature", "Feature-level tests", reading, figures=tuple(figures), tables=(
        Table(("classifier", "generator", "cases", "valid", "accuracy on valid", "accuracy on all"), tuple(rows),
              "Generated test cases"),
        Table(("space", "norm", "train-train min", "test-train min", "r"),
              (("pixel", "L-inf", pix["train_train_min"], pix["test_train_min"], pix["r"]),
               ("VAE latent", "L2", lat["train_train_min"], lat["test_train_min"], lat["r"])), "r-separation"),
        Table(("metric", "value", "note"),
              (("FID", fid["fid"], f"{fid['n_real']} real vs {fid['n_generated']} generated"),
               ("KID", kid["kid"], f"+/- {kid['kid_std']:.4f}"),
               ("IS (generated)", is_["score"], f"real images: {real_is['score']:.2f}"),
               ("FID, real vs real", gm["real_reference"]["fid"]["fid"], "test vs training images: the floor"),
               ("KID, real vs real", gm["real_reference"]["kid"]["kid"],
                f"+/- {gm['real_reference']['kid']['kid_std']:.4f}")),
              f"Generative metrics in {fid['feature_extractor']}")))
