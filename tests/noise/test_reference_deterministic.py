"""The deterministic reference corruptions against independent references written here (numpy, scipy, PIL).

Each reference follows make_imagenet_c.py / make_cifar_c.py (github.com/hendrycks/robustness) with
the libraries it calls, on float images (the reference's 8-bit storage step is left out on both
sides). Every level of both presets is checked: CIFAR-10-C on 32-px images, ImageNet-C on 48-px ones.
"""
import colorsys
import io

import numpy as np
import pytest
import scipy.ndimage as ndi
from PIL import Image

from tf_featuretest.errors import ConfigError
from tf_featuretest.noise import CIFAR10_C, IMAGENET_C, NOISES, choose_preset, corrupt, kernels

SIZES = {"cifar10-c": 32, "imagenet-c": 48}
CASES = [(p, lv) for p in ("cifar10-c", "imagenet-c") for lv in range(1, 6)]
TABLE = {"cifar10-c": CIFAR10_C, "imagenet-c": IMAGENET_C}


def images(preset, channels=3, n=2):
    side = SIZES[preset]
    r = np.random.default_rng(side + channels)
    smooth = ndi.gaussian_filter(r.uniform(size=(n, side, side, channels)), (0, 2, 2, 0))
    x = np.clip((smooth - smooth.mean()) * 4 + 0.5 + 0.15 * r.uniform(-1, 1, smooth.shape), 0, 1)
    return (np.round(x * 255) / 255).astype(np.float32)  # 8-bit images, as the reference reads them


def hsv_map(x, fn):
    out = np.empty_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape[:-1]):
        h, s, v = colorsys.rgb_to_hsv(*x[idx].astype(np.float64))
        out[idx] = colorsys.hsv_to_rgb(*fn(h, s, v))
    return out


def ref_gaussian(x, sigma):
    return np.stack([ndi.gaussian_filter(im.astype(np.float64), (sigma, sigma, 0), mode="nearest", truncate=4.0)
                     for im in x])


def ref_disk(radius, alias_blur):
    grid = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
    ksize = 3 if radius <= 8 else 5
    xx, yy = np.meshgrid(grid, grid)
    d = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float64)
    d /= d.sum()
    t = np.arange(ksize) - (ksize - 1) / 2
    g = np.exp(-t ** 2 / (2 * alias_blur ** 2))
    g /= g.sum()
    d = ndi.correlate1d(d, g, axis=0, mode="mirror")  # cv2.GaussianBlur, BORDER_REFLECT_101
    return ndi.correlate1d(d, g, axis=1, mode="mirror")


def ref_clipped_zoom(img, z):
    h = img.shape[0]
    ch = int(np.ceil(h / z))
    top = (h - ch) // 2
    out = ndi.zoom(img[top:top + ch, top:top + ch], (z, z, 1), order=1)
    trim = (out.shape[0] - h) // 2
    return out[trim:trim + h, trim:trim + h]


def ref_pixelate(x, c):
    side = x.shape[1]
    small = int(side * c)
    out = np.empty_like(x)
    for i, im in enumerate(x):
        for k in range(x.shape[-1]):
            f = Image.fromarray(im[..., k].astype(np.float32), mode="F")
            out[i, ..., k] = np.asarray(f.resize((small, small), Image.BOX).resize((side, side), Image.BOX))
    return out


def ref_jpeg(x, q):
    out = []
    for im in x:
        buf = io.BytesIO()
        Image.fromarray(np.uint8(np.round(im * 255))).save(buf, "JPEG", quality=q)
        out.append(np.asarray(Image.open(buf), np.float32) / 255)
    return np.stack(out)


def reference(name, x, c):
    """The reference's deterministic corruption ``name`` with parameter ``c`` on float images ``x``."""
    if name == "brightness":
        return hsv_map(x, lambda h, s, v: (h, s, np.clip(v + c, 0, 1)))
    if name == "saturate":
        return hsv_map(x, lambda h, s, v: (h, np.clip(s * c[0] + c[1], 0, 1), v))
    if name == "contrast":
        m = x.mean(axis=(1, 2), keepdims=True)
        return (x - m) * c + m
    if name == "gaussian_blur":
        return ref_gaussian(x, c)
    if name == "defocus_blur":
        k = ref_disk(*c)
        return np.stack([np.stack([ndi.correlate(im[..., d].astype(np.float64), k, mode="mirror")
                                   for d in range(im.shape[-1])], -1) for im in x])
    if name == "zoom_blur":
        return np.stack([(im + sum(ref_clipped_zoom(im, z) for z in c)) / (len(c) + 1) for im in x])
    if name == "pixelate":
        return ref_pixelate(x, c)
    raise KeyError(name)


DETERMINISTIC = ("brightness", "saturate", "contrast", "gaussian_blur", "defocus_blur", "zoom_blur", "pixelate")


@pytest.mark.parametrize("name", DETERMINISTIC)
@pytest.mark.parametrize("preset,level", CASES)
def test_deterministic_corruptions_equal_the_reference(name, preset, level):
    x = images(preset)
    c = TABLE[preset][name][level - 1]
    want = np.clip(reference(name, x, c), 0, 1)
    got = corrupt(x, name, level, preset=preset, seed=level).numpy()
    assert np.abs(got - want).mean() < 1e-5 and np.abs(got - want).max() < 1e-4, (name, preset, level)


@pytest.mark.parametrize("preset,level", CASES)
def test_jpeg_is_pils_round_trip(preset, level):
    x = images(preset)
    q = TABLE[preset]["jpeg_compression"][level - 1]
    got = corrupt(x, "jpeg_compression", level, preset=preset).numpy()
    assert np.abs(got - ref_jpeg(x, q)).mean() < 1e-6


@pytest.mark.parametrize("name", ("brightness", "contrast", "pixelate", "gaussian_blur", "zoom_blur", "defocus_blur",
                                  "saturate"))
def test_grey_images_are_rgb_with_equal_channels(name):
    grey = images("cifar10-c", channels=1)
    rgb = np.repeat(grey, 3, -1)
    for level in (2, 5):
        g = corrupt(grey, name, level, preset="cifar10-c").numpy()
        c = corrupt(rgb, name, level, preset="cifar10-c").numpy()
        np.testing.assert_allclose(g[..., 0], c.mean(-1), atol=1e-5)


@pytest.mark.parametrize("preset,side,level,blocks", [("imagenet-c", 224, 3, 89), ("imagenet-c", 32, 3, 12),
                                                        ("imagenet-c", 32, 4, 9), ("cifar10-c", 32, 3, 27),
                                                        ("cifar10-c", 32, 4, 24)])
def test_pixelate_truncates_like_int(preset, side, level, blocks):
    """int(224 * 0.4) = 89 blocks, not 90; at 32 px int(12.8) = 12, int(9.6) = 9, int(27.2) = 27."""
    ramp = np.tile((np.arange(side, dtype=np.float32) / side)[None, :, None], (side, 1, 1))
    out = corrupt(ramp, "pixelate", level, preset=preset).numpy()
    assert len(np.unique(np.round(out[0, :, 0], 6))) == blocks


def test_motion_blur_kernel_equals_imagemagick_rule_written_here():
    x = images("imagenet-c", n=3)
    angles = np.array([-40.0, 7.5, 33.0])
    for radius, sigma in ((10, 3), (20, 15), (6, 1)):
        got = kernels.magick_motion_blur(x, kernels.magick_taps(radius, sigma), angles).numpy()
        width = 2 * int(np.ceil(radius)) + 1
        k = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
        k /= k.sum()
        h, w = x.shape[1:3]
        for n, a in enumerate(np.deg2rad(angles)):
            want = np.zeros(x.shape[1:])
            for i in range(width):
                ox, oy = int(np.ceil(i * np.cos(a) - 0.5)), int(np.ceil(i * np.sin(a) - 0.5))
                rows = np.clip(np.arange(h) + oy, 0, h - 1)
                cols = np.clip(np.arange(w) + ox, 0, w - 1)
                want += k[i] * x[n][rows][:, cols]
            assert np.abs(got[n] - want).max() < 1e-5


@pytest.mark.parametrize("preset,level", CASES)
def test_motion_blur_is_imagemagick_at_some_angle_in_the_reference_range(preset, level):
    """The angle is random: the output must equal ImageMagick's rule at an angle in [-45, 45] degrees."""
    x = images(preset)
    radius, sigma = TABLE[preset]["motion_blur"][level - 1]
    got = corrupt(x, "motion_blur", level, preset=preset, seed=level).numpy()
    taps = kernels.magick_taps(radius, sigma)
    # ImageMagick rounds each tap's offset to whole pixels: the pattern changes only where i cos(a) - 0.5 or
    # i sin(a) - 0.5 crosses an integer. One angle between each pair of such breakpoints covers every pattern.
    width = len(taps)
    cuts = [-45.0, 45.0]
    for i in range(1, width):
        v = (np.arange(-i - 1, i + 1) + 0.5) / i
        v = v[np.abs(v) <= 1]
        cuts += list(np.degrees(np.arcsin(v))) + list(np.degrees(np.arccos(v))) + list(-np.degrees(np.arccos(v)))
    cuts = np.unique(np.clip(cuts, -45, 45))
    grid = (cuts[1:] + cuts[:-1]) / 2
    for n in range(len(x)):
        cands = kernels.magick_motion_blur(np.repeat(x[n:n + 1], len(grid), 0), taps, grid).numpy()
        assert np.abs(cands - got[n]).mean(axis=(1, 2, 3)).min() < 1e-5


def test_preset_rule_and_bad_arguments():
    assert choose_preset("auto", 32, 32) == "cifar10-c" and choose_preset("auto", 64, 100) == "cifar10-c"
    assert choose_preset("auto", 65, 224) == "imagenet-c" and choose_preset("imagenet-c", 28, 28) == "imagenet-c"
    x = images("cifar10-c")
    with pytest.raises(ConfigError, match="level must be an integer 1..5, got 6"):
        corrupt(x, "fog", 6)
    with pytest.raises(ConfigError, match="hail"):
        corrupt(x, "hail", 1)
    with pytest.raises(ConfigError, match="cifar-10-c"):
        corrupt(x, "fog", 1, preset="cifar-10-c")
    np.testing.assert_array_equal(corrupt(x, "gaussian_noise", 2, seed=3).numpy(),
                                  corrupt(x, "gaussian", 2, seed=3).numpy())
    np.testing.assert_array_equal(corrupt(x[0], "contrast", 2).numpy(), corrupt(x, "contrast", 2).numpy()[0])


@pytest.mark.parametrize("name", ("zoom_blur", "fog", "glass_blur", "saturate", "elastic_transform"))
def test_level_scaled_noises_hit_the_levels_at_k_over_5(name):
    x = images("cifar10-c")
    for level in (1, 4):
        np.testing.assert_allclose(NOISES[name](x, level / 5, seed=9).numpy(),
                                   corrupt(x, name, level, preset="auto", seed=9).numpy(), atol=1e-6)
    mid = NOISES[name](x, 0.5, seed=9).numpy()  # halfway between levels 2 and 3
    lo, hi = (corrupt(x, name, k, preset="auto", seed=9).numpy() for k in (2, 3))
    np.testing.assert_allclose(mid, np.clip(0.5 * lo + 0.5 * hi, 0, 1), atol=1e-5)
