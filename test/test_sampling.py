"""Rare-class sampling against its formula on small histograms, and its sampler's draws."""

import numpy as np
import pytest

from training.sampling import RareClassSampler, class_probabilities, image_weights


def test_class_probabilities_are_the_softmax_of_one_minus_frequency_over_t():
    histogram = np.array([[80, 15, 5, 0]])
    f = np.array([0.80, 0.15, 0.05])
    expected = np.exp((1 - f) / 0.1) / np.exp((1 - f) / 0.1).sum()
    np.testing.assert_allclose(class_probabilities(histogram, 0.1), [*expected, 0.0])  # absent class: never drawn


def test_uniform_histogram_weighs_classes_and_images_equally():
    histogram = np.full((5, 4), 100)
    np.testing.assert_allclose(class_probabilities(histogram, 0.01), 0.25)
    np.testing.assert_allclose(image_weights(histogram, 0.01), 0.2)


def test_image_weight_is_the_sum_over_its_classes_of_p_class_over_images_holding_it():
    # class 0 everywhere, class 1 in images 0-1, class 2 (rarest) only in image 2
    histogram = np.array([[90, 10, 0], [90, 10, 0], [95, 0, 5]])
    p = class_probabilities(histogram, 0.05)
    expected = np.array([p[0] / 3 + p[1] / 2, p[0] / 3 + p[1] / 2, p[0] / 3 + p[2]])
    np.testing.assert_allclose(image_weights(histogram, 0.05), expected / expected.sum())
    assert image_weights(histogram, 0.05)[2] > 0.7  # the one image with the rarest class dominates at low T


def test_min_pixels_decides_whether_an_image_holds_a_class():
    histogram = np.array([[100, 3], [100, 0], [100, 0]])
    np.testing.assert_allclose(image_weights(histogram, 0.01, min_pixels=4), 1 / 3)
    assert image_weights(histogram, 0.01, min_pixels=1)[0] > 0.99


def test_non_positive_temperature_and_empty_histogram_are_errors():
    with pytest.raises(ValueError, match="temperature"):
        class_probabilities(np.ones((2, 3)), 0.0)
    with pytest.raises(ValueError, match="empty"):
        class_probabilities(np.zeros((2, 3)), 0.01)


def test_sampler_follows_the_weights_repeats_an_epoch_and_splits_ranks():
    weights = np.array([0.7, 0.1, 0.1, 0.1])
    sampler = RareClassSampler(weights, 4000, seed=3)
    first = list(sampler)
    assert len(first) == len(sampler) == 4000
    assert abs(first.count(0) / 4000 - 0.7) < 0.03
    assert list(sampler) == first  # same epoch, same draws (exact --resume)
    sampler.set_epoch(1)
    assert list(sampler) != first
    ranks = [RareClassSampler(weights, 4001, seed=3, rank=r, world_size=2) for r in (0, 1)]
    assert [len(s) for s in ranks] == [2000, 2000]
    merged = [None] * 4000
    merged[0::2], merged[1::2] = list(ranks[0]), list(ranks[1])
    assert merged == first  # the two ranks share one draw and keep alternate elements
