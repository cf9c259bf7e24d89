"""Sweeps: per-image results on a global batch grid, sharding and merging, and the summary counts."""
import functools

import numpy as np
import pytest
import tensorflow as tf

from tf_featuretest.attacks.pgd import pgd
from tf_featuretest.errors import ConfigError
from tf_featuretest.evaluation.sweep import (
    as_batches,
    merge_parts,
    shard_batches,
    summarize,
    sweep,
    sweep_backend,
    sweep_part,
)
from tf_featuretest.noise import noise_transform


@pytest.fixture(scope="module")
def data(digits):
    x, y = digits["test"]
    return x[:90], y[:90]


def _equal_parts(a, b):
    for name in ("index", "labels", "clean_pred", "pred", "linf", "l2"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("shards", [2, 3, 7])
def test_shards_merged_in_any_order_equal_one_process_per_image(digits_cnn, data, shards):
    batches = as_batches(data, 16)  # 6 batches, the last one of 10 images
    noise = noise_transform("gaussian")
    whole = sweep_part(digits_cnn, batches, noise, "severity", (0.0, 0.4, 0.9), seed=5)
    parts = [sweep_part(digits_cnn, batches, noise, "severity", (0.0, 0.4, 0.9), seed=5,
                        batch_ids=shard_batches(len(batches), shards, s)) for s in range(shards)]
    merged = merge_parts(parts[::-1], 90)
    _equal_parts(whole, merged)
    assert whole.pred.shape == (3, 90) and np.array_equal(whole.index, np.arange(90))


def test_pgd_random_start_is_seeded_by_global_batch(digits_cnn, data):
    batches = as_batches(data, 32)
    attack = functools.partial(pgd, steps=3)
    whole = sweep_part(digits_cnn, batches, attack, "eps", (0.1,), seed=2)
    last = sweep_part(digits_cnn, batches, attack, "eps", (0.1,), seed=2, batch_ids=[2])
    np.testing.assert_array_equal(whole.linf[:, 64:], last.linf)
    np.testing.assert_array_equal(whole.l2[:, 64:], last.l2)
    # the seed really matters: another base seed moves the images elsewhere
    other = sweep_part(digits_cnn, batches, attack, "eps", (0.1,), seed=3, batch_ids=[2])
    assert not np.array_equal(other.l2, last.l2)


def test_batch_b_gets_seed_plus_b_and_its_target_slice():
    seen = []

    def record(model, x, y, *, eps, seed, target):
        seen.append((seed, int(x.shape[0]), tuple(np.asarray(target))))
        return x

    model = tf.keras.Sequential([tf.keras.Input((2, 2, 1)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(3)])
    x = np.zeros((7, 2, 2, 1), np.float32)
    y = np.zeros(7, np.int64)
    batches = as_batches((x, y), 3)
    sweep_part(model, batches, record, "eps", (0.5,), seed=10, target=np.arange(7) % 3, batch_ids=[2, 0])
    assert seen == [(10, 3, (0, 1, 2)), (12, 1, (0,))]


def test_empty_part_and_bad_merges(digits_cnn, data):
    batches = as_batches(data, 40)
    noise = noise_transform("uniform")
    empty = sweep_part(digits_cnn, batches, noise, "severity", (0.2, 0.5), batch_ids=())
    assert len(empty) == 0 and empty.pred.shape == (2, 0)
    a = sweep_part(digits_cnn, batches, noise, "severity", (0.2, 0.5), batch_ids=[0])
    b = sweep_part(digits_cnn, batches, noise, "severity", (0.2, 0.5), batch_ids=[1, 2])
    _equal_parts(merge_parts([empty, b, a], 90), sweep_part(digits_cnn, batches, noise, "severity", (0.2, 0.5)))
    with pytest.raises(ConfigError, match="two sweep parts"):
        merge_parts([a, a])
    with pytest.raises(ConfigError, match="cover 40 of 90 images"):
        merge_parts([a], 90)
    with pytest.raises(ConfigError, match=r"batch numbers must be in \[0, 3\)"):
        sweep_part(digits_cnn, batches, noise, "severity", (0.2,), batch_ids=[3])


def test_shard_batches_cover_the_grid_in_contiguous_blocks():
    for n in (0, 1, 5, 17):
        for k in (1, 2, 3, 8):
            blocks = [shard_batches(n, k, s) for s in range(k)]
            assert sum(blocks, ()) == tuple(range(n))
            assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
    with pytest.raises(ConfigError, match="shard must be below num_shards"):
        shard_batches(4, 2, 2)


def test_summary_counts_against_numpy(digits_cnn, data):
    x, y = data
    res = sweep(digits_cnn, (x, y), functools.partial(pgd, steps=5), "eps", (0.0, 0.05, 0.3), seed=1, batch_size=25)
    clean = np.argmax(digits_cnn.predict(x, verbose=0), 1)
    assert res.num_attacked == 90 and res.num_examples == 90
    assert res.num_misclassified_before == int((clean != y).sum())
    assert res.clean_accuracy == pytest.approx((clean == y).mean())
    # recompute success independently from the adversarial images at eps 0.3
    adv = np.concatenate([np.asarray(pgd(digits_cnn, x[i:i + 25], y[i:i + 25], eps=0.3, steps=5, seed=1 + i // 25))
                          for i in range(0, 90, 25)])
    after = np.argmax(digits_cnn.predict(adv, verbose=0), 1)
    want = ((clean == y) & (after != y)).sum() / (clean == y).sum()
    assert res.success_rate[2] == pytest.approx(want)
    assert res.success_rate[0] == 0.0  # eps 0 changes nothing
    assert res.accuracy[2] == pytest.approx((after == y).mean())
    assert res.to_dict()["num_misclassified_before"] == res.num_misclassified_before


def test_targeted_success_leaves_out_images_already_of_the_target(digits_cnn, data):
    x, y = data
    res = sweep(digits_cnn, (x, y), functools.partial(pgd, steps=10), "eps", (0.3,), target=3, seed=0)
    adv = np.concatenate([np.asarray(pgd(digits_cnn, x[i:i + 128], y[i:i + 128], eps=0.3, steps=10, target=3,
                                         seed=i // 128)) for i in range(0, 90, 128)])
    after = np.argmax(digits_cnn.predict(adv, verbose=0), 1)
    eligible = y != 3
    assert res.success_rate[0] == pytest.approx((after[eligible] == 3).mean())
    assert res.target == 3


def test_summarize_on_hand_made_results():
    from tf_featuretest.evaluation.sweep import SweepPart

    labels = np.array([0, 1, 1, 2])
    part = SweepPart(index=np.arange(4), labels=labels, clean_pred=np.array([0, 1, 0, 2]),
                     pred=np.array([[0, 2, 0, 2], [1, 1, 1, 1]]), linf=np.zeros((2, 4)), l2=np.ones((2, 4)),
                     seconds=np.zeros(2))
    res = summarize(part, name="t", param="eps", values=(0.1, 0.2), num_classes=3)
    # before: images 0, 1, 3 correct, image 2 wrong
    assert res.num_misclassified_before == 1 and res.clean_accuracy == 0.75
    assert res.success_rate == (1 / 3, 2 / 3)  # value 0.1: image 1 flipped; value 0.2: images 0 and 3
    assert res.accuracy == (0.5, 0.5)
    assert res.per_class_accuracy[1] == (0.0, 1.0, 0.0)


def test_a_backend_gets_the_whole_grid(digits_cnn, data):
    calls = []

    class Local:
        def run(self, model, batches, transform, param, values, *, seed, target, progress):
            calls.append(len(batches))
            parts = [sweep_part(model, batches, transform, param, values, seed=seed, target=target, batch_ids=[b])
                     for b in range(len(batches))]
            return merge_parts(parts)

    noise = noise_transform("gaussian")
    plain = sweep(digits_cnn, data, noise, "severity", (0.3,), seed=4, batch_size=32)
    with sweep_backend(Local()):
        sharded = sweep(digits_cnn, data, noise, "severity", (0.3,), seed=4, batch_size=32)
    assert calls == [3]
    assert sharded.to_dict() | {"seconds": None} == plain.to_dict() | {"seconds": None}
