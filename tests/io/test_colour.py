import numpy as np
import PyOpenColorIO as ocio
import pytest

from hrstyle.errors import InputError
from hrstyle.io.colour import WorkingEncoding, srgb_decode, srgb_encode, working_encoding


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    return np.random.default_rng(0).normal(0.3, 1.0, (32, 32, 3)).astype(np.float32)


@pytest.mark.parametrize("source", ["linear", "acescg"])
def test_round_trip_keeps_scene_linear_values(values, source):
    enc = WorkingEncoding(source)
    back = enc.from_working(enc.to_working(values))
    assert np.abs(back - values).max() < 1e-5 * max(1.0, np.abs(values).max())


@pytest.mark.parametrize("source,ocio_name", [("linear", "Linear Rec.709 (sRGB)"), ("acescg", "ACEScg")])
def test_matches_opencolorio_on_positive_values(source, ocio_name):
    # Positive scene values, highlights above 1 included. (Below 0 hrstyle mirrors the curve
    # where OCIO extends its linear toe; the mirror keeps out-of-gamut values small.)
    x = np.random.default_rng(1).uniform(0, 3, (32, 32, 3)).astype(np.float32)
    config = ocio.Config.CreateFromBuiltinConfig("cg-config-latest")
    proc = config.getProcessor(ocio_name, "sRGB Encoded Rec.709 (sRGB)").getDefaultCPUProcessor()
    expected = x.copy()
    proc.applyRGB(expected)
    ours = WorkingEncoding(source).to_working(x)
    keep = ours > 0.01
    assert np.abs(ours - expected)[keep].max() < 1e-3


def test_srgb_curve_reference_points():
    assert srgb_encode(np.float32([0.0, 0.0031308, 0.18, 1.0]))[[0, 3]].tolist() == [0.0, 1.0]
    assert srgb_encode(np.float32([0.18]))[0] == pytest.approx(0.4613, abs=1e-4)
    assert srgb_encode(np.float32([-0.18]))[0] == pytest.approx(-0.4613, abs=1e-4)
    assert srgb_decode(srgb_encode(np.float32([4.0])))[0] == pytest.approx(4.0, rel=1e-6)


def test_auto_treats_float_frames_as_scene_linear():
    assert working_encoding("auto", "half").source == "linear"
    assert working_encoding("auto", "float").source == "linear"
    assert working_encoding("auto", "uint16").source == "none"
    with pytest.raises(InputError, match="--colorspace"):
        working_encoding("rec2020", "half")
