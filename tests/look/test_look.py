import json
import pickle
import struct

import pytest
import torch
from helpers import Exploit
from safetensors.torch import save_file

from hrstyle.errors import LookFormatError
from hrstyle.look.config import NetCfg
from hrstyle.look.file import load_look, save_look
from hrstyle.look.meta import FORMAT_VERSION, LookMeta, file_sha256
from hrstyle.look.net import HRNet


def _meta(net: HRNet, **kw) -> LookMeta:
    return LookMeta(
        net_cfg=net.cfg.to_dict(),
        tune_cfg={"steps": 1},
        steps_done=1,
        work_size=[32, 32],
        vgg_weights="test",
        keyframe_sha256="0" * 64,
        look_sha256="1" * 64,
        final_losses={"total": 1.0},
        stopped="completed",
        **kw,
    )


@pytest.fixture
def trained_net() -> HRNet:
    torch.manual_seed(0)
    net = HRNet(NetCfg(width=8))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net.eval()


def _rewrite_meta(path, edit):
    """Rewrite the hrstyle metadata of a look file in place, keeping its tensors."""
    look = load_look(path)
    meta = look.meta.to_dict()
    edit(meta)
    tensors = {k: v.contiguous() for k, v in look.net.state_dict().items()}
    save_file(tensors, str(path), metadata={"hrstyle": json.dumps(meta)})


def test_round_trip_gives_bit_identical_output(tmp_path, trained_net, keyframe_128):
    path = tmp_path / "a.look.safetensors"
    sha = save_look(path, trained_net, _meta(trained_net))
    look = load_look(path)
    assert sha == look.sha256 == file_sha256(path)
    with torch.no_grad():
        assert torch.equal(trained_net(keyframe_128), look.net(keyframe_128))
    assert look.meta.format_version == FORMAT_VERSION and look.meta.net_cfg == trained_net.cfg.to_dict()
    assert not list(tmp_path.glob(".*"))  # no temp file left


def test_saving_twice_is_byte_identical_except_time(tmp_path, trained_net):
    meta = _meta(trained_net)
    save_look(tmp_path / "a.safetensors", trained_net, meta)
    save_look(tmp_path / "b.safetensors", trained_net, meta)
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


def test_future_version_is_refused(tmp_path, trained_net):
    path = tmp_path / "a.look.safetensors"
    save_look(path, trained_net, _meta(trained_net))
    _rewrite_meta(path, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(LookFormatError, match="newer than this hrstyle"):
        load_look(path)


def test_version_1_look_loads_with_an_identity_colour_transform(tmp_path, trained_net, keyframe_128):
    """Looks saved before the global colour transform existed render exactly as they did."""
    path = tmp_path / "v1.look.safetensors"
    trained_net.set_colour(torch.eye(3), torch.zeros(3))  # what every version-1 network had
    v1_tensors = {k: v.contiguous() for k, v in trained_net.state_dict().items() if not k.startswith("colour.")}
    save_file(
        v1_tensors, str(path), metadata={"hrstyle": json.dumps({**_meta(trained_net).to_dict(), "format_version": 1})}
    )
    look = load_look(path)
    assert look.meta.format_version == FORMAT_VERSION
    assert torch.equal(look.net.colour.weight.flatten(1), torch.eye(3)) and not look.net.colour.bias.any()
    with torch.no_grad():
        assert torch.equal(trained_net(keyframe_128), look.net(keyframe_128))


def test_pickle_renamed_to_safetensors_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "evil.safetensors"
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps(Exploit(str(marker))))
    with pytest.raises(LookFormatError, match="not a look file"):
        load_look(path)
    assert not marker.exists()


def test_torch_checkpoint_is_refused(tmp_path, trained_net):
    path = tmp_path / "net.safetensors"
    torch.save(trained_net.state_dict(), path)
    with pytest.raises(LookFormatError):
        load_look(path)


def test_wrong_shapes_are_refused(tmp_path, trained_net):
    path = tmp_path / "a.look.safetensors"
    save_look(path, trained_net, _meta(trained_net))
    _rewrite_meta(path, lambda m: m["net_cfg"].update(width=16))
    with pytest.raises(LookFormatError, match="expected shape"):
        load_look(path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(net_cfg="hrnet"),
        lambda m: m.update(steps_done="many"),
        lambda m: m.pop("vgg_weights"),
        lambda m: m["net_cfg"].update(width=10**9),
        lambda m: m.update(format_version="1"),
        lambda m: m.update(stopped=["x" * 100_000]),
        lambda m: m.update(trust=1.5),
        lambda m: m.update(trust="high"),
    ],
)
def test_hostile_metadata_is_refused(tmp_path, trained_net, edit):
    path = tmp_path / "a.look.safetensors"
    save_look(path, trained_net, _meta(trained_net))
    _rewrite_meta(path, edit)
    with pytest.raises(LookFormatError, match="a.look.safetensors"):
        load_look(path)


def test_huge_header_and_truncation_are_refused(tmp_path, trained_net):
    path = tmp_path / "a.look.safetensors"
    save_look(path, trained_net, _meta(trained_net))
    data = path.read_bytes()
    (tmp_path / "huge.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + data[8:])
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.safetensors").write_bytes(b"")
    for name in ("huge", "cut", "empty"):
        with pytest.raises(LookFormatError, match=name):
            load_look(tmp_path / f"{name}.safetensors")


def test_missing_file():
    with pytest.raises(LookFormatError, match="no such file; expected a look file"):
        load_look("/nonexistent/x.look.safetensors")


@pytest.mark.parametrize("trust", [0.0, 0.37, None])
def test_the_trust_round_trips_and_an_older_look_has_none(tmp_path, trained_net, trust):
    path = tmp_path / "a.look.safetensors"
    save_look(path, trained_net, _meta(trained_net, trust=trust))
    assert load_look(path).meta.trust == trust
    _rewrite_meta(path, lambda m: m.pop("trust"))
    assert load_look(path).meta.trust is None
