"""The attacks stage: FGSM and PGD sweeps over eps, targeted PGD, the one-pixel attack and fooling images."""
from __future__ import annotations

import functools

import numpy as np

from ...attacks.fgsm import fgsm
from ...attacks.fooling import fooling_images
from ...attacks.one_pixel import one_pixel_attack
from ...attacks.pgd import pgd
from ...evaluation.sweep import sweep
from ...models.introspection import compiled_predict
from ...report import attack_plots as ap
from ...report.sections import attacks as writer

#: Images shown as original / perturbation / adversarial triplets.
TRIPLETS = 8


def predicted(model, x) -> np.ndarray:
    """Arg-max predictions of ``model`` on a batch."""
    return np.argmax(compiled_predict(model)(x).numpy(), 1)


def run(ctx):
    a, info = ctx.config.attacks, ctx.data["info"]
    sub = ctx.subset("test", a.max_examples)
    x, y = sub.take(*ctx.data["test"])
    sweeps, out, figs = [], {"subset": sub.to_dict()}, []
    target = (y + 1) % info.num_classes
    for name, model in ctx.models.items():
        res = {}
        for attack, fn in (("fgsm", fgsm), ("pgd", functools.partial(pgd, steps=a.pgd_steps))):
            s = sweep(model, (x, y), fn, "eps", a.eps, name=f"{attack} {name}", seed=ctx.config.seed,
                      progress=ctx.progress_bar(f"      {attack} on {name}"))
            res[attack] = s.to_dict()
            sweeps.append(s)
        t = sweep(model, (x, y), functools.partial(pgd, steps=a.pgd_steps), "eps", (a.targeted_eps,),
                  name=f"targeted pgd {name}", target=target, seed=ctx.config.seed)
        res["targeted_pgd"] = t.to_dict()
        out[name] = res
    p, rel = ctx.figure_path("attacks", "accuracy_vs_eps.png")
    ap.plot_accuracy_vs_eps(sweeps, p, title="Accuracy under FGSM and PGD")
    figs.append((rel, "Test accuracy against the L-inf budget eps, for each attack and classifier"))
    first_name, first = ctx.first_model()
    n_show = min(TRIPLETS, len(x))
    x_adv = np.asarray(pgd(first, x[:n_show], y[:n_show], eps=a.targeted_eps / 3, steps=a.pgd_steps,
                           seed=ctx.config.seed))
    pc, pa = predicted(first, x[:n_show]), predicted(first, x_adv)
    p, rel = ctx.figure_path("attacks", "triplets.png")
    ap.plot_adversarial_triplets(x[:n_show], x_adv, y[:n_show], pc, pa, p, class_names=info.class_names,
                                 title=f"PGD at eps {a.targeted_eps / 3:.2g} on {first_name}")
    figs.append((rel, "Original, amplified perturbation and adversarial image with their predicted labels"))
    ctx.artifacts["adversarial_examples"] = (x[:n_show], x_adv, y[:n_show])
    n_px = min(a.one_pixel_images, len(x))
    op = one_pixel_attack(first, x[:n_px], y[:n_px], popsize=a.one_pixel_population,
                          generations=a.one_pixel_generations, seed=ctx.config.seed)
    out["one_pixel"] = {"classifier": first_name, **op.to_dict()}
    p, rel = ctx.figure_path("attacks", "one_pixel.png")
    ap.plot_one_pixel(op, x[:n_px], y[:n_px], p, class_names=info.class_names)
    figs.append((rel, f"One-pixel attack on {first_name}: successful images, the changed pixel circled"))
    classes = list(range(min(a.fooling_classes, info.num_classes)))
    fool = fooling_images(first, classes, seed=ctx.config.seed)
    out["fooling"] = {"classifier": first_name, **fool.to_dict()}
    p, rel = ctx.figure_path("attacks", "fooling.png")
    ap.plot_fooling_grid(fool, p, class_names=info.class_names)
    figs.append((rel, f"Fooling images: unrecognisable images that {first_name} assigns to each class"))
    ctx.results["attacks"] = out
    ctx.sections.append(writer.section(out, figs, classifiers=list(ctx.models), pgd_steps=a.pgd_steps,
                                       targeted_eps=a.targeted_eps, coverage=sub.coverage()))
