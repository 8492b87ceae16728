"""Generate the bundled sample data for hrstyle from scikit-image's photos.

Run ``python sample_frames/make_sample.py``. The output is deterministic and
overwrites:

* ``shot/shot.1001.png`` ... ``shot/shot.1024.png`` -- a 24-frame, 960x540,
  8-bit RGB shot rendered from ``skimage.data.coffee``;
* ``shot/camera.json`` -- the exact camera and light of every frame;
* ``keyframe.png`` -- a copy of the middle frame, 1012;
* ``look.jpg`` -- ``skimage.data.astronaut`` with a strong teal/orange grade.

The camera move
---------------
The 600x400 coffee photo is first upscaled by 1.8 with Lanczos into a
1080x720 "plate", so that a 960x540 window has room to move. Over the 24
frames the window's centre pans 90 px right and 20 px up on the plate while
the camera zooms in from 1.00x to 1.08x about the window centre. Pan and zoom
follow the same gently eased curve (half linear, half smoothstep). Each frame
is one ``cv2.warpAffine`` of the plate (bicubic, reflected border), so the
2x3 matrix in ``camera.json`` is the whole geometric truth.

The light then dims by 6% and warms by 3% (red up, blue down) linearly over
the shot: every frame's 8-bit code values are the warped plate (clipped to
0..255) multiplied by a per-frame RGB gain. Every gain is <= 1, so the light
never clips and dividing by the gain undoes it exactly, up to 8-bit rounding.

Coordinates follow OpenCV: pixel (x, y) has its centre at integer (x, y),
with (0, 0) the centre of the top-left pixel.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import skimage.data

HERE = Path(__file__).resolve().parent
SHOT_DIR = HERE / "shot"

FRAME_W, FRAME_H = 960, 540
FIRST_FRAME = 1001
N_FRAMES = 24
KEYFRAME = 1012

PLATE_SCALE = 1.8
PAN_START = (530.0, 285.0)  # window centre on the plate, first frame
PAN_TRAVEL = (90.0, -20.0)
ZOOM_START, ZOOM_END = 1.00, 1.08
EXPOSURE_DROP = 0.06
WARM_SHIFT = 0.03

LOOK_LONG_SIDE = 640
JPEG_QUALITY = 95
PNG_COMPRESSION = 9


# --------------------------------------------------------------------------
# Affine helpers
# --------------------------------------------------------------------------


def to_3x3(m: np.ndarray) -> np.ndarray:
    """Lift a 2x3 affine matrix to a 3x3 homogeneous one."""
    return np.vstack([np.asarray(m, dtype=np.float64), [0.0, 0.0, 1.0]])


def photo_to_plate() -> np.ndarray:
    """2x3 matrix from photo pixels to plate pixels.

    ``cv2.resize`` aligns pixel *edges*, not centres, hence the half-pixel
    offset ``(scale - 1) / 2``.
    """
    s = PLATE_SCALE
    off = (s - 1.0) / 2.0
    return np.array([[s, 0.0, off], [0.0, s, off]])


def plate_to_frame(zoom: float, centre: tuple[float, float]) -> np.ndarray:
    """2x3 matrix sending plate pixel ``centre`` to the frame centre, scaled by ``zoom``."""
    cx, cy = centre
    fx, fy = (FRAME_W - 1) / 2.0, (FRAME_H - 1) / 2.0
    return np.array([[zoom, 0.0, fx - zoom * cx], [0.0, zoom, fy - zoom * cy]])


# --------------------------------------------------------------------------
# Camera and light
# --------------------------------------------------------------------------


def ease(t: float) -> float:
    """Half linear, half smoothstep.

    A pure smoothstep would stop dead at both ends, leaving the first and last
    frame pairs almost motionless; this still eases but always moves.
    """
    return 0.5 * t + 0.5 * t * t * (3.0 - 2.0 * t)


def frame_state(index: int) -> tuple[float, tuple[float, float], list[float]]:
    """Zoom, plate-space window centre and RGB gain of the ``index``-th frame (0-based)."""
    t = index / (N_FRAMES - 1)
    e = ease(t)
    zoom = ZOOM_START + (ZOOM_END - ZOOM_START) * e
    centre = (PAN_START[0] + PAN_TRAVEL[0] * e, PAN_START[1] + PAN_TRAVEL[1] * e)
    exposure = 1.0 - EXPOSURE_DROP * t
    warm = WARM_SHIFT * t
    gain = [exposure * (1.0 + warm), exposure, exposure * (1.0 - warm)]
    return zoom, centre, gain


def build_camera(photo_size: tuple[int, int]) -> dict:
    """The full description written to ``camera.json``."""
    p2p = to_3x3(photo_to_plate())
    frames: dict[str, dict] = {}
    for i in range(N_FRAMES):
        zoom, centre, gain = frame_state(i)
        pl2f = plate_to_frame(zoom, centre)
        ph2f = (to_3x3(pl2f) @ p2p)[:2]
        frames[str(FIRST_FRAME + i)] = {
            "photo_to_frame": ph2f.round(10).tolist(),
            "plate_to_frame": pl2f.round(10).tolist(),
            "gain_rgb": [round(g, 10) for g in gain],
            "zoom": round(zoom, 10),
            "plate_centre": [round(c, 10) for c in centre],
        }
    pw, ph = photo_size
    return {
        "description": (
            "Synthetic 24-frame shot of skimage.data.coffee: pan of "
            f"{PAN_TRAVEL[0]:g},{PAN_TRAVEL[1]:g} plate px plus zoom "
            f"{ZOOM_START:.2f}->{ZOOM_END:.2f}, eased; light dims "
            f"{EXPOSURE_DROP:.0%} and warms {WARM_SHIFT:.0%} linearly."
        ),
        "conventions": {
            "coordinates": "OpenCV pixel centres: (0,0) is the centre of the top-left pixel; x right, y down.",
            "photo_to_frame": (
                "2x3 affine, [x_frame, y_frame] = M @ [x_photo, y_photo, 1], photo = the original skimage image."
            ),
            "plate_to_frame": (
                "2x3 affine from the Lanczos-upscaled plate; each frame is "
                "cv2.warpAffine(plate, M, (960, 540), INTER_CUBIC, BORDER_REFLECT_101)."
            ),
            "gain_rgb": (
                "frame 8-bit code value = round(clip(warped_plate, 0, 255) * gain) per channel; "
                "every gain is <= 1, so the light never clips."
            ),
            "flow": (
                "see true_flow() in make_sample.py: backward flow, "
                "flow_ab[y,x] = position in frame a of frame b's pixel (x,y), minus (x,y)."
            ),
        },
        "source": {
            "photo": "skimage.data.coffee",
            "photo_size_wh": [pw, ph],
            "plate_scale": PLATE_SCALE,
            "plate_size_wh": [round(pw * PLATE_SCALE), round(ph * PLATE_SCALE)],
            "plate_resample": "cv2.INTER_LANCZOS4",
        },
        "frame_size_wh": [FRAME_W, FRAME_H],
        "first_frame": FIRST_FRAME,
        "last_frame": FIRST_FRAME + N_FRAMES - 1,
        "frames": frames,
    }


def load_camera(path: Path = SHOT_DIR / "camera.json") -> dict:
    return json.loads(path.read_text())


def true_flow(camera: dict, a: int, b: int) -> np.ndarray:
    """Exact backward flow that warps frame ``a`` into frame ``b``'s coordinates.

    Returns float32 (H, W, 2). For pixel (x, y) of frame b,
    ``flow[y, x] = (xa - x, ya - y)`` where (xa, ya) is where the same scene
    point lies in frame a. So, as in ``cv2.remap``,
    ``warped_a(x, y) = a(x + flow[y, x, 0], y + flow[y, x, 1])`` reproduces
    frame b (up to the light change and wherever (xa, ya) falls inside a).
    """
    m_a = to_3x3(camera["frames"][str(a)]["photo_to_frame"])
    m_b = to_3x3(camera["frames"][str(b)]["photo_to_frame"])
    b_to_a = m_a @ np.linalg.inv(m_b)
    w, h = camera["frame_size_wh"]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    xa = b_to_a[0, 0] * xs + b_to_a[0, 1] * ys + b_to_a[0, 2]
    ya = b_to_a[1, 0] * xs + b_to_a[1, 1] * ys + b_to_a[1, 2]
    return np.stack([xa - xs, ya - ys], axis=-1).astype(np.float32)


# --------------------------------------------------------------------------
# Rendering the shot
# --------------------------------------------------------------------------


def make_plate(photo: np.ndarray) -> np.ndarray:
    """Upscale the photo to the plate, kept in float so the frame warp rounds only once."""
    h, w = photo.shape[:2]
    size = (round(w * PLATE_SCALE), round(h * PLATE_SCALE))
    return cv2.resize(photo.astype(np.float32), size, interpolation=cv2.INTER_LANCZOS4)


def render_frame(plate: np.ndarray, m_plate_to_frame: list, gain: list[float]) -> np.ndarray:
    warped = cv2.warpAffine(
        plate,
        np.asarray(m_plate_to_frame, dtype=np.float64),
        (FRAME_W, FRAME_H),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    # Clip the bicubic/Lanczos overshoot at speculars *before* the light so
    # that, with every gain <= 1, dividing a frame by its gain is exact up to rounding.
    scene = np.clip(warped, 0.0, 255.0)
    lit = scene * np.asarray(gain, dtype=np.float32)
    return np.rint(lit).astype(np.uint8)


def write_rgb(path: Path, rgb: np.ndarray, params: list[int]) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params):
        raise OSError(f"could not write {path}")


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"could not read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def frame_path(frame: int) -> Path:
    return SHOT_DIR / f"shot.{frame:04d}.png"


def write_shot() -> dict:
    photo = skimage.data.coffee()
    camera = build_camera((photo.shape[1], photo.shape[0]))
    plate = make_plate(photo)
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    for frame, state in camera["frames"].items():
        rgb = render_frame(plate, state["plate_to_frame"], state["gain_rgb"])
        write_rgb(frame_path(int(frame)), rgb, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    (SHOT_DIR / "camera.json").write_text(json.dumps(camera, indent=1) + "\n")
    shutil.copyfile(frame_path(KEYFRAME), HERE / "keyframe.png")
    return camera


# --------------------------------------------------------------------------
# The reference look
# --------------------------------------------------------------------------

REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
TEAL = np.array([-0.50, 0.20, 0.32], dtype=np.float32)
ORANGE = np.array([0.45, 0.12, -0.40], dtype=np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ REC709


def s_curve(x: np.ndarray, strength: float) -> np.ndarray:
    """Blend towards smoothstep: steeper mid-tones, rolled-off toe and shoulder."""
    return x + strength * (x * x * (3.0 - 2.0 * x) - x)


def split_tone(rgb: np.ndarray, shadows: float, highlights: float) -> np.ndarray:
    """Push dark tones towards teal and bright tones (skin included) towards orange."""
    y = luma(rgb)[..., None]
    # A soft falloff lets the teal reach into the low mid-tones, where it reads as a grade rather than a tint.
    w_shadow = (1.0 - y) ** 1.5
    w_high = y**1.5
    return rgb + shadows * w_shadow * TEAL + highlights * w_high * ORANGE


def saturate(rgb: np.ndarray, amount: float) -> np.ndarray:
    y = luma(rgb)[..., None]
    return y + amount * (rgb - y)


def grade_look(rgb_u8: np.ndarray) -> np.ndarray:
    x = rgb_u8.astype(np.float32) / 255.0
    x = s_curve(x, strength=0.60)
    x = split_tone(x, shadows=0.65, highlights=0.35)
    x = saturate(np.clip(x, 0.0, 1.0), amount=1.15)
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def write_look() -> tuple[np.ndarray, np.ndarray]:
    """Grade the astronaut portrait: a person, unlike the shot, with skin and neutral greys to tint."""
    photo = skimage.data.astronaut()
    h, w = photo.shape[:2]
    scale = LOOK_LONG_SIDE / max(h, w)
    size = (round(w * scale), round(h * scale))
    resized = np.clip(cv2.resize(photo.astype(np.float32), size, interpolation=cv2.INTER_LANCZOS4), 0, 255).astype(
        np.uint8
    )
    graded = grade_look(resized)
    write_rgb(HERE / "look.jpg", graded, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return resized, graded


# --------------------------------------------------------------------------
# Sanity checks, printed rather than tested: this is a generator, not library code
# --------------------------------------------------------------------------


def flow_check(camera: dict, a: int, b: int, margin: int = 16) -> tuple[float, float]:
    """Mean abs error (8-bit units) of frame a warped by true_flow vs frame b, and the unwarped difference.

    Gains are divided out first so only geometry is compared; the mask keeps
    pixels whose source position in a lies ``margin`` px inside the frame,
    away from the reflected border.
    """
    ga = np.asarray(camera["frames"][str(a)]["gain_rgb"], dtype=np.float32)
    gb = np.asarray(camera["frames"][str(b)]["gain_rgb"], dtype=np.float32)
    img_a = read_rgb(frame_path(a)).astype(np.float32) / ga
    img_b = read_rgb(frame_path(b)).astype(np.float32) / gb
    flow = true_flow(camera, a, b)
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = xs + flow[..., 0], ys + flow[..., 1]
    warped = cv2.remap(img_a, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    inside = (
        (map_x >= margin)
        & (map_x <= w - 1 - margin)
        & (map_y >= margin)
        & (map_y <= h - 1 - margin)
        & (xs >= margin)
        & (xs <= w - 1 - margin)
        & (ys >= margin)
        & (ys <= h - 1 - margin)
    )
    err = float(np.abs(warped - img_b)[inside].mean())
    base = float(np.abs(img_a - img_b)[inside].mean())
    return err, base


def colour_stats(rgb_u8: np.ndarray) -> dict[str, list[float]]:
    x = rgb_u8.astype(np.float32) / 255.0
    y = luma(x)
    return {
        "mean_rgb": [round(float(v), 3) for v in x.reshape(-1, 3).mean(0)],
        "shadows_rgb": [round(float(v), 3) for v in x[y < 0.3].mean(0)],
        "highlights_rgb": [round(float(v), 3) for v in x[y > 0.6].mean(0)],
    }


def main() -> None:
    camera = write_shot()
    last = FIRST_FRAME + N_FRAMES - 1
    for a, b in [(KEYFRAME - 1, KEYFRAME), (FIRST_FRAME, KEYFRAME), (FIRST_FRAME, last)]:
        err, base = flow_check(camera, a, b)
        print(
            f"flow check {a}->{b}: warped MAE {err:.3f} vs unwarped {base:.3f} "
            f"({err / base:.1%}; 8-bit units, gain undone, interior only)"
        )
    before, after = write_look()
    print(f"look before: {colour_stats(before)}")
    print(f"look after:  {colour_stats(after)}")


if __name__ == "__main__":
    main()
