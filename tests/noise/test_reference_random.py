"""The random reference corruptions against references written here in numpy/scipy: equal in distribution.

Each reference follows make_imagenet_c.py / make_cifar_c.py with numpy's generator; the two sides
draw different random numbers, so the test compares distributions (two-sample KS on pooled values,
means and standard deviations). The OpenCV steps of spatter (Canny, chamfer distance, histogram
equalisation) are compared exactly on a fixed input.
"""
import zlib

import numpy as np
import pytest
import scipy.ndimage as ndi
from scipy import stats
from test_reference_deterministic import images, ref_clipped_zoom, ref_gaussian

from tf_featuretest.noise import CIFAR10_C, IMAGENET_C, corrupt, spatter, weather

TABLE = {"cifar10-c": CIFAR10_C, "imagenet-c": IMAGENET_C}
CASES = [(p, lv) for p in ("cifar10-c", "imagenet-c") for lv in range(1, 6)]


def rng_for(*key):
    """A numpy generator per test case, so each case's reference draws do not depend on the test order."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def ref_noise(name, x, c, rng):
    if name == "gaussian_noise":
        return x + rng.normal(size=x.shape, scale=c)
    if name == "shot_noise":
        return rng.poisson(x * c) / c
    if name == "impulse_noise":  # skimage random_noise(mode="s&p", amount=c)
        flip, salt = rng.random(x.shape) <= c, rng.random(x.shape) < 0.5
        return np.where(flip & salt, 1.0, np.where(flip, 0.0, x))
    if name == "speckle_noise":
        return x + x * rng.normal(size=x.shape, scale=c)
    raise KeyError(name)


@pytest.mark.parametrize("name", ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"))
@pytest.mark.parametrize("preset,level", CASES)
def test_pixel_noises_have_the_reference_distribution(name, preset, level):
    x = np.full((4, 48, 48, 1), 0.4, np.float32)
    x[:, :24] = 0.8
    c = TABLE[preset][name][level - 1]
    got = corrupt(x, name, level, preset=preset, seed=level).numpy().astype(np.float64)
    want = np.clip(ref_noise(name, x.astype(np.float64), c, rng_for(name, preset, level)), 0, 1)
    for part in (slice(0, 24), slice(24, 48)):
        g, w = got[:, part].ravel(), want[:, part].ravel()
        if name == "shot_noise":  # compare photon counts: k / c in float32 and float64 are different atoms
            g, w = np.round(g * c), np.round(w * c)
        assert stats.ks_2samp(g, w).pvalue > 1e-3, (name, preset, level)
        if name == "impulse_noise":  # the fraction replaced, within 4 binomial standard errors
            se = np.sqrt(c * (1 - c) / g.size)
            assert abs((g != x[0, part].ravel()[0]).mean() - c) < 4 * se
        else:
            assert abs(g.std() - w.std()) < 0.05 * w.std() + 1e-3


def ref_plasma(mapsize, decay, rng):
    """The reference's plasma_fractal (diamond-square), written here with numpy."""
    a = np.zeros((mapsize, mapsize))
    step, wibble = mapsize, 100.0

    def wm(v):
        return v / 4 + wibble * rng.uniform(-wibble, wibble, v.shape)

    while step >= 2:
        h = step // 2
        c = a[0::step, 0::step]
        sq = c + np.roll(c, -1, 0)
        sq = sq + np.roll(sq, -1, 1)
        a[h::step, h::step] = wm(sq)
        dr, ul = a[h::step, h::step], a[0::step, 0::step]
        a[0::step, h::step] = wm(dr + np.roll(dr, 1, 0) + ul + np.roll(ul, -1, 1))
        a[h::step, 0::step] = wm(dr + np.roll(dr, 1, 1) + ul + np.roll(ul, -1, 0))
        step //= 2
        wibble /= decay
    a -= a.min()
    return a / a.max()


def ref_glass(im, c, rng):
    sigma, d, iters = c
    x = np.uint8(ref_gaussian(im[None], sigma)[0] * 255)
    h, w = x.shape[:2]
    for _ in range(iters):
        for r in range(h - d, d, -1):
            for q in range(w - d, d, -1):
                dx, dy = rng.integers(-d, d, size=2)
                x[r, q], x[r + dy, q + dx] = x[r + dy, q + dx], x[r, q]  # NumPy views: a copy, as in the reference
    return ref_gaussian(x[None] / 255.0, sigma)[0]


def magick_blur(layer, radius, sigma, angle):
    width = 2 * int(np.ceil(radius)) + 1
    k = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    k /= k.sum()
    h, w = layer.shape
    out = np.zeros_like(layer)
    a = np.deg2rad(angle)
    for i in range(width):
        ox, oy = int(np.ceil(i * np.cos(a) - 0.5)), int(np.ceil(i * np.sin(a) - 0.5))
        out += k[i] * layer[np.clip(np.arange(h) + oy, 0, h - 1)][:, np.clip(np.arange(w) + ox, 0, w - 1)]
    return out


def ref_snow(im, c, rng):
    h = im.shape[0]
    layer = ref_clipped_zoom(rng.normal(size=(h, h), loc=c[0], scale=c[1])[..., None], c[2])[..., 0]
    layer[layer < c[3]] = 0
    layer = np.clip(layer, 0, 1) * 255
    layer = np.round(magick_blur(layer.astype(np.uint8).astype(np.float64), c[4], c[5],
                                 rng.uniform(-135, -45))) / 255
    grey = im @ np.array([0.299, 0.587, 0.114])
    x = c[6] * im + (1 - c[6]) * np.maximum(im, grey[..., None] * 1.5 + 0.5)
    return x + layer[..., None] + np.rot90(layer, 2)[..., None]


def ref_elastic(im, c, rng):
    h = im.shape[0]
    ctr, sq = np.float32([h, h]) // 2, h // 3
    p1 = np.float32([ctr + sq, [ctr[0] + sq, ctr[1] - sq], ctr - sq])
    p2 = p1 + rng.uniform(-c[2], c[2], size=p1.shape)
    m = np.linalg.solve(np.c_[p1, np.ones(3)], p2).T  # cv2.getAffineTransform: src -> dst
    inv = np.linalg.inv(np.r_[m, [[0, 0, 1]]])
    rows, cols = np.mgrid[0:h, 0:h].astype(np.float64)
    sc, sr = inv[0, 0] * cols + inv[0, 1] * rows + inv[0, 2], inv[1, 0] * cols + inv[1, 1] * rows + inv[1, 2]
    warped = np.stack([ndi.map_coordinates(im[..., k], [sr, sc], order=1, mode="mirror") for k in range(3)], -1)
    dx = ndi.gaussian_filter(rng.uniform(-1, 1, (h, h)), c[1], mode="reflect", truncate=3) * c[0]
    dy = ndi.gaussian_filter(rng.uniform(-1, 1, (h, h)), c[1], mode="reflect", truncate=3) * c[0]
    return np.stack([ndi.map_coordinates(warped[..., k], [rows + dy, cols + dx], order=1, mode="reflect")
                     for k in range(3)], -1)


def ref_fog(im, c, rng, mapsize):
    top = im.max()
    return (im + c[0] * ref_plasma(mapsize, c[1], rng)[:im.shape[0], :im.shape[1], None]) * top / (top + c[0])


def ref_mud(im, c, rng):
    layer = ndi.gaussian_filter(rng.normal(size=im.shape[:2], loc=c[0], scale=c[1]), c[2], mode="nearest")
    m = ndi.gaussian_filter((layer > c[3]).astype(np.float64), c[4], mode="nearest")
    m[m < 0.8] = 0
    return im * (1 - m[..., None]) + np.array([63, 42, 20]) / 255 * m[..., None]


@pytest.mark.parametrize("name", ("glass_blur", "snow", "fog", "elastic_transform"))
@pytest.mark.parametrize("preset,level", CASES)
def test_random_corruptions_have_the_reference_distribution(name, preset, level):
    """Per-image summaries (mean change, mean, std) compared by KS over 30 draws each; pixels pooled where local."""
    x = images("cifar10-c", n=1)[0].astype(np.float64)  # 32 px for both presets, to keep the loops short
    c = TABLE[preset][name][level - 1]
    reps = 30
    fn = {"glass_blur": ref_glass, "snow": ref_snow, "elastic_transform": ref_elastic,
          "fog": lambda im, c, rng: ref_fog(im, c, rng, 32 if preset == "cifar10-c" else 256)}[name]
    rng = rng_for(name, preset, level)
    want = np.clip(np.stack([fn(x, c, rng) for _ in range(reps)]), 0, 1)
    got = corrupt(np.repeat(x[None], reps, 0).astype(np.float32), name, level, preset=preset, seed=level).numpy()
    for stat in (lambda v: np.abs(v - x).mean(axis=(1, 2, 3)), lambda v: v.mean(axis=(1, 2, 3)),
                 lambda v: v.std(axis=(1, 2, 3))):
        g, w = stat(got), stat(want)
        if np.ptp(np.concatenate([g, w])) > 1e-6:
            assert stats.ks_2samp(g, w).pvalue > 1e-3, (name, preset, level, g.mean(), w.mean())
        se = np.sqrt((g.var() + w.var()) / reps)
        assert abs(g.mean() - w.mean()) < 4 * se + 1e-4, (name, preset, level, g.mean(), w.mean())
    if name in ("glass_blur", "elastic_transform"):  # local randomness: pixels far apart are nearly independent
        pooled = stats.ks_2samp(got[:, ::4, ::4].ravel(), want[:, ::4, ::4].ravel()).pvalue
        assert pooled > 1e-3, (name, preset, level, pooled)


@pytest.mark.parametrize("preset,level", [("cifar10-c", 4), ("cifar10-c", 5), ("imagenet-c", 4), ("imagenet-c", 5)])
def test_mud_spatter_has_the_reference_distribution(preset, level):
    x = images("cifar10-c", n=1)[0].astype(np.float64)
    c = TABLE[preset]["spatter"][level - 1]
    rng = rng_for(preset, level)
    want = np.clip(np.stack([ref_mud(x, c, rng) for _ in range(16)]), 0, 1)
    got = corrupt(np.repeat(x[None], 16, 0).astype(np.float32), "spatter", level, preset=preset, seed=1).numpy()
    changed_g, changed_w = (np.abs(v - x).max(-1) > 1e-6 for v in (got, want))
    assert abs(changed_g.mean() - changed_w.mean()) < 0.05 + 0.3 * changed_w.mean()
    assert stats.ks_2samp(got[:, ::2, ::2].ravel(), want[:, ::2, ::2].ravel()).pvalue > 1e-3


def ref_canny(img, low=50, high=150):
    """cv2.Canny (aperture 3, L1) written with loops: Sobel (replicate), NMS, hysteresis by a stack."""
    p = np.pad(img.astype(np.int64), 1, mode="edge")
    dx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    dy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    mag = np.pad(np.abs(dx) + np.abs(dy), 1)
    h, w = img.shape
    state = np.zeros((h, w), int)  # 0 none, 1 weak, 2 strong
    tg22 = int(np.tan(np.pi / 8) * (1 << 15) + 0.5)
    for r in range(h):
        for q in range(w):
            m, xs, ys = mag[r + 1, q + 1], dx[r, q], dy[r, q]
            if m <= low:
                continue
            x_, y_ = abs(xs), abs(ys) << 15
            if y_ < x_ * tg22:
                ok = m > mag[r + 1, q] and m >= mag[r + 1, q + 2]
            elif y_ > x_ * tg22 + (x_ << 16):
                ok = m > mag[r, q + 1] and m >= mag[r + 2, q + 1]
            else:
                s = -1 if (xs ^ ys) < 0 else 1
                ok = m > mag[r, q + 1 - s] and m > mag[r + 2, q + 1 + s]
            if ok:
                state[r, q] = 2 if m > high else 1
    stack = list(zip(*np.nonzero(state == 2)))
    while stack:
        r, q = stack.pop()
        for a in (-1, 0, 1):
            for b in (-1, 0, 1):
                if 0 <= r + a < h and 0 <= q + b < w and state[r + a, q + b] == 1:
                    state[r + a, q + b] = 2
                    stack.append((r + a, q + b))
    return state == 2


def ref_chamfer(zero):
    """Two-pass 5x5 chamfer distance (1, 1.4, 2.1969), as OpenCV's distanceTransform(DIST_L2, 5)."""
    h, w = zero.shape
    d = np.pad(np.where(zero, 0.0, 1e9), 2, constant_values=1e9)
    fwd = [(-1, -1, 1.4), (-1, 0, 1), (-1, 1, 1.4), (0, -1, 1), (-2, -1, 2.1969), (-2, 1, 2.1969), (-1, -2, 2.1969),
           (-1, 2, 2.1969)]
    for r in range(2, h + 2):
        for q in range(2, w + 2):
            d[r, q] = min([d[r, q]] + [d[r + a, q + b] + c for a, b, c in fwd])
    for r in range(h + 1, 1, -1):
        for q in range(w + 1, 1, -1):
            d[r, q] = min([d[r, q]] + [d[r - a, q - b] + c for a, b, c in fwd])
    return d[2:-2, 2:-2]


def ref_equalize(img):
    hist = np.bincount(img.ravel(), minlength=256)
    first = hist[np.nonzero(hist)[0][0]]
    lut = np.rint((np.cumsum(hist) - first) * np.float32(255.0 / (img.size - first)))
    return np.clip(lut, 0, 255)[img]


def test_spatter_opencv_steps_equal_loop_references():
    r = np.random.default_rng(3)
    layer = ndi.gaussian_filter(r.normal(0.65, 0.3, (2, 32, 32)), (0, 1, 1))
    layer[layer < 0.69] = 0
    l8 = np.clip(np.floor(layer * 255), 0, 255)
    edges = spatter.canny(l8.astype(np.float32)).numpy()
    for i in range(2):
        np.testing.assert_array_equal(edges[i], ref_canny(l8[i].astype(np.uint8)))
        assert edges[i].any()
    dist = np.minimum(spatter.chamfer_distance(edges).numpy(), 20)
    for i in range(2):
        np.testing.assert_allclose(dist[i], np.minimum(ref_chamfer(edges[i]), 20), atol=1e-4)
    img = r.integers(3, 200, (2, 32, 32))
    eq = spatter.equalize_hist(img.astype(np.float32)).numpy()
    for i in range(2):
        np.testing.assert_array_equal(eq[i], ref_equalize(img[i]))


@pytest.mark.parametrize("preset,level", [("cifar10-c", 1), ("cifar10-c", 3), ("imagenet-c", 2)])
def test_water_spatter_adds_turquoise_only_where_the_layer_is(preset, level):
    x = images("cifar10-c", n=4)
    got = corrupt(x, "spatter", level, preset=preset, seed=2).numpy()
    added = got - x
    assert (added >= -1e-6).all() and added.max() > 0.05
    ratio = added[..., 1][added[..., 1] > 0.01] / np.maximum(added[..., 0][added[..., 1] > 0.01], 1e-9)
    assert np.median(ratio[added[..., 0][added[..., 1] > 0.01] > 1e-3]) == pytest.approx(238 / 175, rel=0.05)


def test_frost_with_pictures_in_a_folder(tmp_path, monkeypatch):
    from PIL import Image

    r = np.random.default_rng(5)
    pics = [r.integers(0, 256, (60 + 7 * i, 70 + 5 * i, 3)).astype(np.uint8) for i in range(6)]
    for f, p in zip(weather.FROST_FILES, pics):
        Image.fromarray(p).save(tmp_path / f, quality=100) if f.endswith("jpg") else Image.fromarray(p).save(tmp_path / f)
    loaded = [np.asarray(Image.open(tmp_path / f).convert("RGB"), np.float64) for f in weather.FROST_FILES]
    monkeypatch.setenv(weather.FROST_ENV, str(tmp_path))
    x = images("cifar10-c", n=1)[0].astype(np.float64)
    rng = rng_for("frost")
    for level in (1, 5):
        c = IMAGENET_C["frost"][level - 1]
        got = corrupt(np.repeat(x[None], 40, 0).astype(np.float32), "frost", level, preset="imagenet-c", seed=3).numpy()
        want = []
        for _ in range(40):
            f = loaded[rng.integers(5)]  # np.random.randint(5): frost6 is never used
            a, b = rng.integers(0, f.shape[0] - 32), rng.integers(0, f.shape[1] - 32)
            want.append(np.clip(c[0] * x + c[1] * f[a:a + 32, b:b + 32] / 255, 0, 1))
        assert stats.ks_2samp(got[:, ::4, ::4].ravel(), np.stack(want)[:, ::4, ::4].ravel()).pvalue > 1e-3
        crop = (got[0] - np.clip(c[0] * x, 0, 1)) / c[1] * 255  # one image's crop is a window of a picture
        assert crop.min() > -1.0
    monkeypatch.delenv(weather.FROST_ENV)
