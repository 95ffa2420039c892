"""Joint transforms: image and label stay aligned, labels stay valid, randomness is controlled."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from seg_perception.labels import IGNORE_ID, NUM_CLASSES
from seg_perception.size import Size
from training.transforms import (ColorJitter, Compose, GaussianBlur, GaussianNoise, Haze, JpegCompression,
                                 MotionBlur, RandomCrop, RandomGamma, RandomHorizontalFlip, RandomScale, Resize, ToTensor, eval_transforms,
                                 train_transforms)

VALID = set(range(NUM_CLASSES)) | {IGNORE_ID}


def coded_pair(rng: np.random.Generator, height: int = 64, width: int = 96, cell: int = 8):
    """A label of random cells (some ignore) and an image whose colour encodes each pixel's label.

    Codes are random (so a blend of two is never a third) and never black, the colour of RandomCrop's padding.
    """
    cells = rng.choice(sorted(VALID), size=(height // cell, width // cell))
    label = np.kron(cells, np.ones((cell, cell), np.uint8)).astype(np.uint8)
    codes = np.zeros((256, 3), np.uint8)
    codes[sorted(VALID)] = np.random.default_rng(123).integers(30, 226, (len(VALID), 3))
    return codes[label], label, codes


def decode(image: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The class whose code colour each pixel shows exactly (black: padding, so ignore), else -1."""
    classes = sorted(VALID)
    palette = np.vstack([codes[classes], [[0, 0, 0]]]).astype(np.int64) @ [65536, 256, 1]
    keys = image.reshape(-1, 3).astype(np.int64) @ [65536, 256, 1]
    match = keys[:, None] == palette[None, :]
    return np.where(match.any(axis=1), np.array(classes + [IGNORE_ID])[match.argmax(axis=1)], -1).reshape(
        image.shape[:2])


def assert_aligned(image: np.ndarray, label: np.ndarray, codes: np.ndarray) -> None:
    """Every pixel showing exactly a class code (or the black padding) carries that class in the label.

    Interpolation blends colours only across label edges, so a one-pixel shift, a flip or a
    different crop of one of the two shows up as pure colours under the wrong label.
    """
    decoded = decode(image, codes)
    pure = decoded >= 0
    assert pure.mean() > 0.6, "too few pixels keep a pure code colour for the check to mean anything"
    mismatch = pure & (decoded != label)
    assert not mismatch.any(), f"{mismatch.sum()} pure-coloured pixels under another label"


GEOMETRIC = {
    "scale": lambda rng: RandomScale(0.5, 2.0, rng=rng),
    "crop_padded": lambda rng: RandomCrop(Size(120, 80), rng=rng),
    "crop": lambda rng: RandomCrop(Size(56, 40), rng=rng),
    "flip": lambda rng: RandomHorizontalFlip(1.0, rng=rng),
    "resize": lambda rng: Resize(Size(70, 50)),
    "train_pipeline": lambda rng: Compose([RandomScale(0.5, 2.0, rng=rng), RandomCrop(Size(64, 48), rng=rng),
                                           RandomHorizontalFlip(0.5, rng=rng)]),
}


@pytest.mark.parametrize("name", GEOMETRIC)
def test_geometric_transforms_keep_image_and_label_aligned(name):
    for seed in range(6):
        rng = np.random.default_rng(seed)
        image, label, codes = coded_pair(rng)
        assert_aligned(image, label, codes)
        out_image, out_label = GEOMETRIC[name](rng)(image, label)
        assert out_image.shape[:2] == out_label.shape and out_label.dtype == np.uint8
        assert set(np.unique(out_label)) <= VALID
        assert_aligned(out_image, out_label, codes)


def test_alignment_check_catches_a_one_pixel_shift():
    image, label, codes = coded_pair(np.random.default_rng(0))
    with pytest.raises(AssertionError, match="under another label"):
        assert_aligned(image, np.roll(label, 1, axis=1), codes)


def test_random_crop_pads_image_with_zero_and_label_with_ignore():
    image = np.full((10, 12, 3), 7, np.uint8)
    label = np.full((10, 12), 3, np.uint8)
    out_image, out_label = RandomCrop(Size(30, 20), rng=np.random.default_rng(0))(image, label)
    assert out_image.shape == (20, 30, 3) and out_label.shape == (20, 30)
    np.testing.assert_array_equal(out_label[:10, :12], 3)
    np.testing.assert_array_equal(out_image[:10, :12], 7)
    assert (out_label[10:] == IGNORE_ID).all() and (out_label[:, 12:] == IGNORE_ID).all()
    assert (out_image[10:] == 0).all() and (out_image[:, 12:] == 0).all()


def test_random_scale_stays_in_range_and_only_resamples_label_values():
    rng = np.random.default_rng(1)
    image, label, _ = coded_pair(rng)
    sizes = set()
    for _ in range(20):
        out_image, out_label = RandomScale(0.5, 2.0, rng=rng)(image, label)
        assert 32 <= out_label.shape[0] <= 128 and 48 <= out_label.shape[1] <= 192
        assert set(np.unique(out_label)) <= set(np.unique(label))
        sizes.add(out_label.shape)
    assert len(sizes) > 10
    with pytest.raises(ValueError):
        RandomScale(2.0, 0.5)


def test_flip_mirrors_both_or_neither():
    image, label, _ = coded_pair(np.random.default_rng(2))
    flipped = RandomHorizontalFlip(1.0)(image, label)
    np.testing.assert_array_equal(flipped[0], image[:, ::-1])
    np.testing.assert_array_equal(flipped[1], label[:, ::-1])
    kept = RandomHorizontalFlip(0.0)(image, label)
    assert kept[0] is image and kept[1] is label


def test_color_jitter_changes_the_image_only():
    image, label, _ = coded_pair(np.random.default_rng(3))
    out_image, out_label = ColorJitter(0.4, 0.4, 0.4, 0.1, rng=np.random.default_rng(0))(image, label)
    assert out_label is label
    assert out_image.dtype == np.uint8 and out_image.shape == image.shape
    assert np.abs(out_image.astype(int) - image).mean() > 2
    np.testing.assert_array_equal(ColorJitter()(image, label)[0], image)
    with pytest.raises(ValueError):
        ColorJitter(hue=0.6)


def test_color_jitter_steps_follow_torchvision_semantics():
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200
    assert tuple(ColorJitter._hue(red, 1 / 3)[0, 0]) == (0, 200, 0)  # a third of a turn: red -> green
    grey = ColorJitter._saturation(red, 0.0)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert tuple(ColorJitter._brightness(red, 1.5)[0, 0]) == (255, 0, 0)  # saturates
    ramp = np.repeat(np.arange(0, 160, 10, dtype=np.uint8).reshape(4, 4, 1), 3, axis=2)
    flat = ColorJitter._contrast(ramp, 0.0)
    assert np.ptp(flat) <= 1 and abs(int(flat[0, 0, 0]) - ramp.mean()) <= 1


def test_gaussian_blur_smooths_the_image_only():
    image, label, _ = coded_pair(np.random.default_rng(4))
    blurred, same_label = GaussianBlur(1.0, (1.5, 1.5))(image, label)
    assert same_label is label
    assert np.abs(np.diff(blurred.astype(int), axis=1)).mean() < np.abs(np.diff(image.astype(int), axis=1)).mean()
    np.testing.assert_array_equal(GaussianBlur(0.0)(image, label)[0], image)


def test_gamma_bends_mid_tones_within_its_range_and_keeps_the_label():
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    label = np.zeros(ramp.shape[:2], np.uint8)
    strength = 0.5
    mids = []
    for seed in range(40):
        out, same = RandomGamma(strength, rng=np.random.default_rng(seed))(ramp, label)
        assert same is label and out[0, 0, 0] == 0 and out[0, 255, 0] == 255  # black and white stay
        mids.append(int(out[0, 128, 0]))
    # 128 ** gamma over gamma in [1 / 1.5, 1.5]: about 160 down to 89
    assert 85 <= min(mids) < 110 and 140 < max(mids) <= 162
    np.testing.assert_array_equal(RandomGamma(0.0)(ramp, label)[0], ramp)


def test_noise_has_the_drawn_strength_and_keeps_the_label():
    image = np.full((64, 96, 3), 128, np.uint8)
    label = np.zeros((64, 96), np.uint8)
    noisy, same = GaussianNoise(1.0, 10.0, rng=np.random.default_rng(0))(image, label)
    assert same is label
    assert 0.5 < noisy.astype(float).std() <= 10.5 and abs(noisy.astype(float).mean() - 128) < 0.5
    np.testing.assert_array_equal(GaussianNoise(0.0, 10.0)(image, label)[0], image)


def test_haze_veils_towards_a_light_grey_by_a_transmission_in_range_on_the_image_only():
    image, label, _ = coded_pair(np.random.default_rng(9))
    transmissions = []
    for seed in range(20):
        out, same = Haze(1.0, 0.3, rng=np.random.default_rng(seed))(image, label)
        assert same is label
        # out = t * image + airlight * (1 - t): fit t and the airlight per crop from the pixels
        t, offset = np.polyfit(image.reshape(-1).astype(float), out.reshape(-1).astype(float), 1)
        assert 0.3 - 0.01 <= t <= 1.0 + 0.01
        if t < 0.95:
            assert 175 - 2 <= offset / (1 - t) <= 215 + 2
        assert out.std() <= image.std() * t + 1  # contrast falls with the transmission
        transmissions.append(t)
    assert min(transmissions) < 0.45 and max(transmissions) > 0.85  # drawn over the whole [0.3, 1]
    np.testing.assert_array_equal(Haze(0.0, 0.3)(image, label)[0], image)
    with pytest.raises(ValueError, match="min_transmission"):
        Haze(1.0, 0.0)


def test_motion_blur_smears_a_point_into_a_line_of_the_drawn_length_on_the_image_only():
    image = np.zeros((61, 61, 3), np.uint8)
    image[30, 30] = 255
    label = np.zeros((61, 61), np.uint8)
    lengths = []
    for seed in range(30):
        out, same = MotionBlur(1.0, 12.0, rng=np.random.default_rng(seed))(image.astype(np.float32), label)
        assert same is label
        assert abs(out.sum() - image.sum()) < 1e-3 * image.sum()  # the kernel moves light, it adds none
        lit = np.argwhere(out[..., 0] > 1.0)  # the smeared point: a line through where it was
        extent = np.ptp(lit, axis=0)
        lengths.append(np.hypot(*extent))
        assert (out[..., 0] > 0).sum() > 2 and out.max() < 255 / 2
    assert 2 <= min(lengths) < 5 and 9 < max(lengths) <= 13  # lengths drawn from [3, 12] pixels
    np.testing.assert_array_equal(MotionBlur(0.0, 12.0)(image, label)[0], image)
    with pytest.raises(ValueError, match="max_length"):
        MotionBlur(1.0, 2.0)


def test_jpeg_round_trip_loses_detail_at_low_quality_only_on_the_image():
    image, label, _ = coded_pair(np.random.default_rng(8))
    image = cv2_noise(image)
    out, same = JpegCompression(1.0, 10, rng=np.random.default_rng(0))(image, label)
    assert same is label and out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image).mean() > 3
    np.testing.assert_array_equal(JpegCompression(0.0, 10)(image, label)[0], image)
    with pytest.raises(ValueError):
        JpegCompression(1.0, 0)


def cv2_noise(image: np.ndarray) -> np.ndarray:
    """Fine detail (pixel noise) for JPEG to lose."""
    noise = np.random.default_rng(1).integers(-20, 21, image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def test_to_tensor_normalises_and_keeps_labels():
    image, label, _ = coded_pair(np.random.default_rng(5))
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    tensor, target = ToTensor(mean, std)(image, label)
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 64, 96)
    assert target.dtype == torch.int64 and target.shape == (64, 96)
    expected = (image.astype(np.float32) / 255 - mean) / std
    np.testing.assert_allclose(tensor.permute(1, 2, 0).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(target.numpy(), label)


def test_train_and_eval_pipelines_produce_valid_tensors():
    image, label, _ = coded_pair(np.random.default_rng(6))
    for seed in range(5):
        tensor, target = train_transforms(Size(80, 48), haze=0.3, blur=True, gamma=0.3, motion_blur=12.0, noise=8.0,
                                          jpeg_quality=40,
                                          rng=np.random.default_rng(seed))(image, label)
        assert tensor.shape == (3, 48, 80) and target.shape == (48, 80)
        assert set(target.unique().tolist()) <= VALID
    tensor, target = eval_transforms(Size(96, 64))(image, label)
    assert tensor.shape == (3, 64, 96)
    np.testing.assert_array_equal(target.numpy(), label)
    imagenet = (image[0, 0] / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(tensor[:, 0, 0].numpy(), imagenet, rtol=1e-5)
    tensor, target = eval_transforms(Size(48, 32))(image, label)  # the network's input; scored at full size
    assert tensor.shape == (3, 32, 48)
    np.testing.assert_array_equal(target.numpy(), label)


def test_a_numpy_generator_makes_a_pipeline_reproducible():
    image, label, _ = coded_pair(np.random.default_rng(7))
    first = train_transforms(Size(40, 40), rng=np.random.default_rng(3))(image, label)
    second = train_transforms(Size(40, 40), rng=np.random.default_rng(3))(image, label)
    other = train_transforms(Size(40, 40), rng=np.random.default_rng(4))(image, label)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


class _Repeated(Dataset):
    """The same image every time, through a randomly augmenting pipeline without a fixed generator."""

    def __init__(self):
        self.image, self.label, _ = coded_pair(np.random.default_rng(8))
        self.transform = train_transforms(Size(32, 32))

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return self.transform(self.image, self.label)


def batches(seed: int, workers: int) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    return [images for images, _ in DataLoader(_Repeated(), batch_size=4, num_workers=workers)]


def test_without_a_generator_torch_seeding_controls_randomness():
    same, again, other = batches(0, 0), batches(0, 0), batches(1, 0)
    assert all(torch.equal(a, b) for a, b in zip(same, again))
    assert not torch.equal(same[0], other[0])
    first, second = batches(0, 2)  # each worker yields one batch: they must not repeat each other
    assert not torch.equal(first, second)
    assert all(torch.equal(a, b) for a, b in zip((first, second), batches(0, 2)))
