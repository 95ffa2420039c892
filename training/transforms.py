"""Joint image/label transforms on numpy arrays (OpenCV), for training and evaluation.

Every transform is called as ``transform(image, label) -> (image, label)`` with an H x W x 3
uint8 RGB image and an H x W uint8 trainId label (0..18, 255 ignore). Geometric transforms
move both alike; labels are only resized with nearest-neighbour and padded with 255, so they
never hold other values. Sizes are ``Size`` (width, height). ``ToTensor`` ends a pipeline
with a normalised float32 C x H x W tensor and an int64 H x W label tensor.

Randomness: a random transform uses the ``rng`` (numpy Generator) it was built with; without
one, each call seeds a generator from torch's global RNG. DataLoader seeds torch differently
in every worker (base seed + worker id) and the base seed comes from the main process's torch
RNG, so workers differ and ``torch.manual_seed`` reproduces a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np
import torch

from seg_perception.checkpoint import IMAGENET_MEAN, IMAGENET_STD
from seg_perception.labels import IGNORE_ID
from seg_perception.size import Size

from .data.motion_blur import MIN_LENGTH_PX, motion_kernel

Pair = tuple[np.ndarray, np.ndarray]


def _generator(rng: np.random.Generator | None) -> np.random.Generator:
    if rng is not None:
        return rng
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))


def resize_pair(image: np.ndarray, label: np.ndarray, size: Size) -> Pair:
    """Resize both to ``size``: the image area-averaged when shrinking, else bilinear; the label nearest-neighbour."""
    shrinking = size.width * size.height < image.shape[0] * image.shape[1]
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    # NEAREST_EXACT samples at pixel centres, as the image interpolations do, so the two stay aligned.
    label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST_EXACT)
    return image, label


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Iterable):
        self.transforms = list(transforms)

    def __call__(self, image: np.ndarray, label: np.ndarray):
        for transform in self.transforms:
            image, label = transform(image, label)
        return image, label


class Resize:
    """Resize both to ``size``."""

    def __init__(self, size: Size):
        self.size = Size(*size)

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        return resize_pair(image, label, self.size)


class ResizeImage:
    """Resize the image alone to ``size`` (bilinear, as the deployment Segmenter does); the label keeps its
    resolution, where it is scored."""

    def __init__(self, size: Size):
        self.size = Size(*size)

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        return cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR), label


class RandomScale:
    """Resize by a factor drawn uniformly from [min_scale, max_scale] (multi-scale training)."""

    def __init__(self, min_scale: float, max_scale: float, rng: np.random.Generator | None = None):
        if not 0 < min_scale <= max_scale:
            raise ValueError(f"need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
        self.min_scale, self.max_scale, self.rng = min_scale, max_scale, rng

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        factor = _generator(self.rng).uniform(self.min_scale, self.max_scale)
        width, height = Size.of(label)
        return resize_pair(image, label, Size(max(1, round(width * factor)), max(1, round(height * factor))))


class RandomCrop:
    """A random window of ``size``; smaller inputs are first padded (image 0, label 255) bottom-right."""

    def __init__(self, size: Size, rng: np.random.Generator | None = None):
        (self.width, self.height), self.rng = size, rng

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        pad_y, pad_x = max(0, self.height - label.shape[0]), max(0, self.width - label.shape[1])
        if pad_y or pad_x:
            image = cv2.copyMakeBorder(image, 0, pad_y, 0, pad_x, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            label = cv2.copyMakeBorder(label, 0, pad_y, 0, pad_x, cv2.BORDER_CONSTANT, value=IGNORE_ID)
        rng = _generator(self.rng)
        y = int(rng.integers(0, label.shape[0] - self.height + 1))
        x = int(rng.integers(0, label.shape[1] - self.width + 1))
        window = (slice(y, y + self.height), slice(x, x + self.width))
        return np.ascontiguousarray(image[window]), np.ascontiguousarray(label[window])


class RandomHorizontalFlip:
    """Mirror both left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        self.p, self.rng = p, rng

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        if _generator(self.rng).random() < self.p:
            return cv2.flip(image, 1), cv2.flip(label, 1)
        return image, label


class ColorJitter:
    """Photometric jitter of the image only, with torchvision's meaning of the arguments.

    Brightness, contrast and saturation factors are drawn from [max(0, 1 - x), 1 + x]; the hue
    shift from [-hue, hue] of a full turn (hue <= 0.5). The four are applied in random order.
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0, hue: float = 0.0,
                 rng: np.random.Generator | None = None):
        if not 0 <= hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {hue}")
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue
        self.rng = rng

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        rng = _generator(self.rng)
        steps = [(self._brightness, self.brightness), (self._contrast, self.contrast),
                 (self._saturation, self.saturation)]
        adjustments = [(step, rng.uniform(max(0.0, 1 - x), 1 + x)) for step, x in steps if x > 0]
        if self.hue > 0:
            adjustments.append((self._hue, rng.uniform(-self.hue, self.hue)))
        for k in rng.permutation(len(adjustments)):
            step, amount = adjustments[k]
            image = step(image, amount)
        return image, label

    @staticmethod
    def _brightness(image: np.ndarray, factor: float) -> np.ndarray:
        return cv2.convertScaleAbs(image, alpha=factor)

    @staticmethod
    def _contrast(image: np.ndarray, factor: float) -> np.ndarray:
        mean = float(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).mean())
        return cv2.addWeighted(image, factor, image, 0.0, (1 - factor) * mean)

    @staticmethod
    def _saturation(image: np.ndarray, factor: float) -> np.ndarray:
        grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        return cv2.addWeighted(image, factor, grey, 1 - factor, 0.0)

    @staticmethod
    def _hue(image: np.ndarray, shift: float) -> np.ndarray:
        # HSV_FULL puts hue on 0..255, so a shift is a wrap-around lookup table on that channel.
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)
        lut = ((np.arange(256) + round(shift * 256)) % 256).astype(np.uint8)
        hsv[..., 0] = cv2.LUT(hsv[..., 0], lut)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


class GaussianBlur:
    """Blur the image only, with probability ``p`` and sigma drawn from ``sigma`` (pixels)."""

    def __init__(self, p: float = 0.5, sigma: tuple[float, float] = (0.1, 2.0), rng: np.random.Generator | None = None):
        self.p, self.sigma, self.rng = p, sigma, rng

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        rng = _generator(self.rng)
        if rng.random() < self.p:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*self.sigma))
        return image, label


class RandomGamma:
    """Gamma curve on the image only: exponent drawn log-uniformly from [1 / (1 + strength), 1 + strength]."""

    def __init__(self, strength: float, rng: np.random.Generator | None = None):
        if strength < 0:
            raise ValueError(f"gamma strength must be >= 0, got {strength}")
        self.log_range, self.rng = np.log1p(strength), rng

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        gamma = np.exp(_generator(self.rng).uniform(-self.log_range, self.log_range))
        lut = np.clip(np.rint(255 * (np.arange(256) / 255) ** gamma), 0, 255).astype(np.uint8)
        return cv2.LUT(image, lut), label


class GaussianNoise:
    """Sensor noise on the image only, with probability ``p``: zero-mean, sigma drawn from [0, max_sigma] grey levels."""

    def __init__(self, p: float = 0.5, max_sigma: float = 8.0, rng: np.random.Generator | None = None):
        self.p, self.max_sigma, self.rng = p, max_sigma, rng

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        rng = _generator(self.rng)
        if rng.random() < self.p:
            noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(rng.uniform(0, self.max_sigma))
            image = cv2.add(image, noise, dtype=cv2.CV_8U)
        return image, label


class Haze:
    """A veil of light-grey fog over the image only, with probability ``p``: ``image * t + airlight * (1 - t)``
    with the transmission ``t`` uniform in [min_transmission, 1] over the whole crop and the airlight a grey
    of 175-215 (a crop has no depth, so near and far are veiled alike; the generator fogs by depth)."""

    def __init__(self, p: float = 0.3, min_transmission: float = 0.3, rng: np.random.Generator | None = None):
        if not 0 < min_transmission <= 1:
            raise ValueError(f"haze min_transmission must be in (0, 1], got {min_transmission}")
        self.p, self.min_transmission, self.rng = p, min_transmission, rng

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        rng = _generator(self.rng)
        if rng.random() < self.p:
            transmission = rng.uniform(self.min_transmission, 1.0)
            image = cv2.addWeighted(image, transmission, image, 0.0, rng.uniform(175, 215) * (1 - transmission))
        return image, label


class MotionBlur:
    """Motion blur of the image only, with probability ``p``: a line kernel ``length`` pixels long (drawn
    from [3, max_length]) at a uniformly drawn angle, the generator's own kernel (a camera moving while
    exposed)."""

    def __init__(self, p: float = 0.3, max_length: float = 12.0, rng: np.random.Generator | None = None):
        if max_length < MIN_LENGTH_PX:
            raise ValueError(f"motion blur max_length must be >= {MIN_LENGTH_PX} pixels, got {max_length}")
        self.p, self.max_length, self.rng = p, max_length, rng

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        rng = _generator(self.rng)
        if rng.random() < self.p:
            kernel = motion_kernel(rng.uniform(MIN_LENGTH_PX, self.max_length), rng.uniform(0.0, np.pi))
            image = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)
        return image, label


class JpegCompression:
    """JPEG round trip of the image only, with probability ``p``, at a quality drawn from [min_quality, 95]."""

    def __init__(self, p: float = 0.3, min_quality: int = 40, rng: np.random.Generator | None = None):
        if not 1 <= min_quality <= 95:
            raise ValueError(f"JPEG min_quality must be in [1, 95], got {min_quality}")
        self.p, self.min_quality, self.rng = p, min_quality, rng

    def __call__(self, image: np.ndarray, label: np.ndarray) -> Pair:
        rng = _generator(self.rng)
        if rng.random() < self.p:
            quality = int(rng.integers(self.min_quality, 96))
            # OpenCV codes BGR; the channel order only has to round-trip, so RGB passes through unchanged.
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
        return image, label


class ToTensor:
    """Image -> float32 C x H x W tensor normalised by ``mean``/``std`` (0..1 scale); label -> int64 H x W tensor."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def __call__(self, image: np.ndarray, label: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255)
        return tensor.sub_(self.mean).div_(self.std), torch.from_numpy(label.astype(np.int64))


def train_transforms(crop_size: Size = Size(512, 256), scale_range: tuple[float, float] = (0.5, 2.0),
                     mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, flip: bool = True,
                     jitter: bool = True, hue: float = 0.05, haze: float = 0.0, blur: bool = False,
                     gamma: float = 0.0, motion_blur: float = 0.0, noise: float = 0.0, jpeg_quality: int = 0,
                     rng: np.random.Generator | None = None) -> Compose:
    """Multi-scale resize, random (padded) crop of ``crop_size``, flip, then the camera-like distortions, ToTensor.

    The distortions (each off at 0 / False): haze down to ``haze`` transmission, colour jitter (brightness,
    contrast and saturation 0.3, hue shifts up to ``hue`` of a turn), gamma of ``gamma`` strength, blur,
    motion blur up to ``motion_blur`` pixels, noise up to ``noise`` grey levels, JPEG down to
    ``jpeg_quality``, in the order a camera makes them.
    """
    steps: list = [RandomScale(*scale_range, rng=rng), RandomCrop(crop_size, rng=rng)]
    if flip:
        steps.append(RandomHorizontalFlip(0.5, rng=rng))
    if haze:  # in the air, before the camera
        steps.append(Haze(0.3, haze, rng=rng))
    if jitter:
        steps.append(ColorJitter(0.3, 0.3, 0.3, hue, rng=rng))
    if gamma:
        steps.append(RandomGamma(gamma, rng=rng))
    if blur:
        steps.append(GaussianBlur(0.3, rng=rng))
    if motion_blur:
        steps.append(MotionBlur(0.3, motion_blur, rng=rng))
    if noise:
        steps.append(GaussianNoise(0.5, noise, rng=rng))
    if jpeg_quality:
        steps.append(JpegCompression(0.3, jpeg_quality, rng=rng))
    return Compose(steps + [ToTensor(mean, std)])


def configured_train_transforms(data: dict, mean: Sequence[float] = IMAGENET_MEAN,
                                std: Sequence[float] = IMAGENET_STD) -> Compose:
    """``train_transforms`` as a training config's ``data`` section sets it up."""
    return train_transforms(crop_size=Size(*data["crop_size"]), scale_range=tuple(data["scale_range"]), mean=mean,
                            std=std, flip=data["flip"], jitter=data["jitter"], hue=data["hue"], haze=data["haze"],
                            blur=data["blur"], gamma=data["gamma"], motion_blur=data["motion_blur"],
                            noise=data["noise"], jpeg_quality=data["jpeg_quality"])


def eval_transforms(input_size: Size, mean: Sequence[float] = IMAGENET_MEAN,
                    std: Sequence[float] = IMAGENET_STD) -> Compose:
    """Validation: the image resized to the network's ``input_size`` and normalised, the label as it is."""
    return Compose([ResizeImage(input_size), ToTensor(mean, std)])
