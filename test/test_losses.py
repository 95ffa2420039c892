"""Losses and class weights, each checked against its formula on tensors small enough to work by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from training.losses import CombinedLoss, CrossEntropy, DiceLoss, FocalLoss, build_loss, class_weights


def pixels(*logit_rows):
    """N=1, H=1 logits from per-pixel rows of class scores: shape 1 x C x 1 x W."""
    return torch.tensor(logit_rows, dtype=torch.float32).T.reshape(1, len(logit_rows[0]), 1, len(logit_rows))


def targets(*ids):
    return torch.tensor(ids, dtype=torch.int64).reshape(1, 1, len(ids))


def neg_log_softmax(row, k):
    return -(row[k] - math.log(sum(math.exp(v) for v in row)))


def random_batch(seed=0, classes=4):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, classes, 3, 5, generator=gen)
    target = torch.randint(0, classes, (2, 3, 5), generator=gen)
    target[0, 0] = 255
    return logits, target


# --- class weights -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["inverse", "median", "enet"])
def test_uniform_histogram_gives_equal_weights(method):
    assert class_weights([5, 5, 5, 5], method).tolist() == [1.0, 1.0, 1.0, 1.0]


def test_inverse_and_median_by_hand_with_an_empty_class():
    # shares 1/4 and 3/4 -> raw 4 and 4/3 -> mean 8/3 -> 1.5 and 0.5; the empty class gets 0
    expected = [0.0, 1.5, 0.5]
    torch.testing.assert_close(class_weights([0, 1, 3], "inverse"), torch.tensor(expected))
    # from totals the median frequency is median / share: proportional to inverse
    torch.testing.assert_close(class_weights([0, 1, 3], "median"), torch.tensor(expected))


def test_enet_by_hand():
    raw = [1 / math.log(1.02 + 0.25), 1 / math.log(1.02 + 0.75)]
    mean = sum(raw) / 2
    torch.testing.assert_close(class_weights([1, 3], "enet"), torch.tensor([r / mean for r in raw]))
    raw = [1 / math.log(1.5 + 0.25), 1 / math.log(1.5 + 0.75)]
    torch.testing.assert_close(class_weights([1, 3], "enet", c=1.5), torch.tensor([r / sum(raw) * 2 for r in raw]))


def test_median_frequency_from_per_image_counts():
    # image 1: 10 px of class 0, 30 of class 2; image 2: 20 of class 1, 20 of class 2 (40 px each).
    # freq = class pixels / pixels of the images containing it = 10/40, 20/40, 50/80;
    # median 0.5 -> raw 2, 1, 0.8 -> mean 1.2667.
    weights = class_weights([[10, 0, 30], [0, 20, 20]], "median")
    torch.testing.assert_close(weights, torch.tensor([2, 1, 0.8]) / (3.8 / 3))
    # inverse uses the overall shares 1/8, 1/4, 5/8 -> raw 8, 4, 1.6
    inverse = class_weights([[10, 0, 30], [0, 20, 20]], "inverse")
    torch.testing.assert_close(inverse, torch.tensor([8, 4, 1.6]) / (13.6 / 3))


def test_bad_histograms_and_methods_raise():
    with pytest.raises(ValueError, match="'sqrt'"):
        class_weights([1, 2], "sqrt")
    for histogram in ([0, 0], [1, -1], [[[1]]]):
        with pytest.raises(ValueError, match="histogram"):
            class_weights(histogram, "inverse")
    with pytest.raises(ValueError, match="c > 1"):
        class_weights([1, 2], "enet", c=0.5)


# --- cross-entropy and focal ---------------------------------------------------------------------


def test_cross_entropy_by_hand_ignores_255():
    a, b, c = [1.0, 2.0, 0.0], [0.5, -1.0, 0.0], [0.0, 0.0, 3.0]
    logits, target = pixels(a, b, c), targets(1, 0, 255)
    plain = (neg_log_softmax(a, 1) + neg_log_softmax(b, 0)) / 2
    assert CrossEntropy()(logits, target).item() == pytest.approx(plain, rel=1e-6)
    weighted = (0.5 * neg_log_softmax(a, 1) + 2.0 * neg_log_softmax(b, 0)) / 2.5
    loss = CrossEntropy(weight=torch.tensor([2.0, 0.5, 1.0]))(logits, target)
    assert loss.item() == pytest.approx(weighted, rel=1e-6)


def test_cross_entropy_matches_torch_on_a_batch():
    logits, target = random_batch()
    weight = torch.tensor([0.5, 1.0, 2.0, 0.25])
    expected = F.cross_entropy(logits, target, weight=weight, ignore_index=255)
    torch.testing.assert_close(CrossEntropy(weight)(logits, target), expected)


def test_focal_by_hand():
    # p(target) = 3/4 and 1/4: terms (1/4)^2 ln(4/3) and (3/4)^2 ln 4
    logits, target = pixels([0.0, math.log(3)], [0.0, math.log(3)], [9.0, 0.0]), targets(1, 0, 255)
    terms = [(1 / 16) * math.log(4 / 3), (9 / 16) * math.log(4)]
    assert FocalLoss(gamma=2)(logits, target).item() == pytest.approx(sum(terms) / 2, rel=1e-6)
    alpha = torch.tensor([3.0, 1.0])
    expected = (1.0 * terms[0] + 3.0 * terms[1]) / 4.0
    assert FocalLoss(gamma=2, alpha=alpha)(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_focal_with_gamma_zero_is_cross_entropy():
    logits, target = random_batch()
    torch.testing.assert_close(FocalLoss(gamma=0)(logits, target), CrossEntropy()(logits, target))
    weight = torch.tensor([0.5, 1.0, 2.0, 0.25])
    torch.testing.assert_close(FocalLoss(gamma=0, alpha=weight)(logits, target), CrossEntropy(weight)(logits, target))


def test_focal_gradient_stays_finite_for_confident_pixels():
    logits = pixels([100.0, 0.0], [0.0, 100.0]).requires_grad_()
    FocalLoss(gamma=0.5)(logits, targets(0, 1)).backward()
    assert torch.isfinite(logits.grad).all()


def test_class_weight_count_must_match_logits():
    logits, target = random_batch()
    for loss in (CrossEntropy(torch.ones(3)), FocalLoss(alpha=torch.ones(5))):
        with pytest.raises(ValueError, match="class weights for 4 classes"):
            loss(logits, target)


# --- dice ----------------------------------------------------------------------------------------


def test_dice_by_hand():
    # p = (3/4, 1/4) on a class-0 pixel, (1/2, 1/2) on a class-1 pixel; a third pixel is ignored.
    logits, target = pixels([math.log(3), 0.0], [0.0, 0.0], [-5.0, 7.0]), targets(0, 1, 255)
    dice_0 = (2 * 0.75 + 1) / (0.75 + 0.5 + 1 + 1)
    dice_1 = (2 * 0.5 + 1) / (0.25 + 0.5 + 1 + 1)
    assert DiceLoss(smooth=1)(logits, target).item() == pytest.approx(1 - (dice_0 + dice_1) / 2, rel=1e-6)


def test_dice_of_a_perfect_prediction_is_zero():
    _, target = random_batch(classes=19)
    logits = 50.0 * F.one_hot(target.clamp(max=18), 19).permute(0, 3, 1, 2).float()
    logits[0, :, 0] = 10 * torch.randn(19, 5)  # random_batch ignores this row: its logits may be anything
    assert DiceLoss()(logits, target).item() == pytest.approx(0.0, abs=1e-6)


def test_dice_smooth_must_be_positive():
    with pytest.raises(ValueError, match="smooth"):
        DiceLoss(smooth=0)


# --- all ignored, combinations, config -----------------------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [
        CrossEntropy(),
        CrossEntropy(torch.tensor([1.0, 2.0, 0.5, 1.0])),
        FocalLoss(),
        FocalLoss(alpha=torch.tensor([1.0, 2.0, 0.5, 1.0])),
        DiceLoss(),
        CombinedLoss([(1.0, CrossEntropy()), (0.5, DiceLoss()), (2.0, FocalLoss())]),
    ],
    ids=["ce", "weighted_ce", "focal", "focal_alpha", "dice", "combined"],
)
def test_all_ignored_batch_gives_zero_loss_and_gradient(loss):
    logits = torch.randn(2, 4, 3, 5, requires_grad=True)
    value = loss(logits, torch.full((2, 3, 5), 255))
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_only_zero_weight_classes_give_zero_not_nan():
    logits, _ = random_batch()
    target = torch.full((2, 3, 5), 2)
    assert CrossEntropy(torch.tensor([1.0, 1.0, 0.0, 1.0]))(logits, target).item() == 0.0


def test_combined_is_the_weighted_sum():
    logits, target = random_batch()
    ce, dice = CrossEntropy(), DiceLoss()
    expected = 1.0 * ce(logits, target) + 0.5 * dice(logits, target)
    torch.testing.assert_close(CombinedLoss([(1.0, ce), (0.5, dice)])(logits, target), expected)
    with pytest.raises(ValueError, match="at least one term"):
        CombinedLoss([])


def test_build_loss_from_config():
    histogram = [100, 50, 10, 40]
    config = {
        "terms": [
            {"type": "ce", "weight": 1.0, "class_weights": "median"},
            {"type": "dice", "weight": 0.5},
            {"type": "focal", "weight": 1.0, "gamma": 2.0, "alpha": "enet"},
        ]
    }
    loss = build_loss(config, class_histogram=histogram)
    logits, target = random_batch()
    expected = (
        CrossEntropy(class_weights(histogram, "median"))(logits, target)
        + 0.5 * DiceLoss()(logits, target)
        + FocalLoss(2.0, class_weights(histogram, "enet"))(logits, target)
    )
    torch.testing.assert_close(loss(logits, target), expected)
    torch.testing.assert_close(build_loss({"terms": [{"type": "ce"}]})(logits, target), CrossEntropy()(logits, target))


@pytest.mark.parametrize(
    "config, message",
    [
        ({"terms": [{"type": "lovasz"}]}, "unknown type 'lovasz'"),
        ({"terms": [{"type": "focal", "gama": 2}]}, r"unknown key\(s\) \['gama'\]"),
        ({"terms": [{"type": "dice", "class_weights": "median"}]}, "class_weights"),
        ({"terms": [{"type": "ce"}], "reduction": "sum"}, "reduction"),
        ({"terms": [{"type": "ce", "class_weights": "log"}]}, "unknown method 'log'"),
        ({"terms": [{"type": "ce", "class_weights": "median"}]}, "needs a class_histogram"),
        ({"terms": []}, "at least one term"),
    ],
)
def test_build_loss_rejects_bad_config(config, message):
    with pytest.raises(ValueError, match=message):
        build_loss(config)
