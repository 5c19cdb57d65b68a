"""Video hashes (vPDQ): a re-encoded, a cropped and rescaled, and a trimmed copy of a video
match it; an unrelated video does not. Videos are generated with ffmpeg at test time."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tidewatch.detect.media import BankEntry, HashBank
from tidewatch.detect.video import (
    Frame,
    VideoError,
    backend,
    ffmpeg_available,
    from_json,
    match_percent,
    same_video,
    to_json,
    vpdq_hash,
)

BACKENDS = ["ffmpeg", "vpdq"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not ffmpeg_available():
        if os.environ.get("TIDEWATCH_REQUIRE_FFMPEG") == "1":
            pytest.fail("ffmpeg is required here (make system-deps)")
        pytest.skip("ffmpeg is not installed (make system-deps)")
    folder = tmp_path_factory.mktemp("videos")
    fast = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]

    def ffmpeg(*arguments: str) -> None:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *arguments], check=True)

    original, other = folder / "original.mp4", folder / "other.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=8", *fast, str(original))
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=320x240:rate=10", "-t", "8", *fast, str(other))
    made = {"original": original, "other": other}
    made["re-encoded"] = folder / "reencoded.avi"  # another codec, heavy quantisation
    ffmpeg("-i", str(original), "-c:v", "mpeg4", "-q:v", "8", str(made["re-encoded"]))
    made["cropped and rescaled"] = folder / "cropped.mp4"
    ffmpeg("-i", str(original), "-vf", "crop=316:236:2:2,scale=200:150", *fast, str(made["cropped and rescaled"]))  # fmt: skip
    made["trimmed"] = folder / "trimmed.mp4"  # seconds 2 to 6 of the eight
    ffmpeg("-ss", "2", "-i", str(original), "-t", "4", *fast, str(made["trimmed"]))
    return made


def hashed(videos: dict[str, Path], use: str) -> dict[str, list[Frame]]:
    if use == "vpdq" and backend() != "vpdq":
        pytest.skip("Meta's vpdq package is not installed (pip install 'tidewatch[video]')")
    return {name: vpdq_hash(path, use=use) for name, path in videos.items()}


@pytest.mark.parametrize("use", BACKENDS)
def test_copies_of_a_video_match_it_and_an_unrelated_video_does_not(
    videos: dict[str, Path], use: str
) -> None:
    frames = hashed(videos, use)
    assert len(frames["original"]) == 8  # one frame a second
    assert all(frame.quality >= 50 for frame in frames["original"])
    for copy in ("re-encoded", "cropped and rescaled"):
        assert match_percent(frames["original"], frames[copy]) == (100.0, 100.0), copy
    # The clip is all in the original; half the original is in the clip.
    clip_in_original, original_in_clip = match_percent(frames["trimmed"], frames["original"])
    assert clip_in_original == 100.0 and original_in_clip == 50.0
    assert same_video(frames["original"], frames["trimmed"])
    assert match_percent(frames["original"], frames["other"]) == (0.0, 0.0)
    assert not same_video(frames["original"], frames["other"])


def test_a_video_bank_reads_back_from_threatexchange_and_matches_a_re_upload(
    videos: dict[str, Path],
) -> None:
    frames = hashed(videos, backend())
    bank = HashBank()
    bank.add(BankEntry(hash=to_json(frames["original"]), kind="vpdq", label="testimonial", id="v1"))
    exported = json.loads(json.dumps(bank.export_threatexchange()))
    assert exported["data"][0]["type"] == "HASH_VIDEO_VPDQ"
    again = HashBank()
    assert again.import_threatexchange(exported) == (1, [])
    [(entry, shares)] = again.match_video(frames["cropped and rescaled"])
    assert entry.id == "v1" and entry.kind == "vpdq" and shares == (100.0, 100.0)
    assert again.match_video(frames["other"]) == []
    assert again.match(frames["original"][0].hash) == []  # a video is not a picture


def test_a_vpdq_hash_in_the_older_object_form_reads_and_bad_ones_are_refused() -> None:
    older = {"0": {"quality": 100, "hash": "f" * 64, "timestamp": 0.0}}
    assert from_json(json.dumps(older)) == [Frame("f" * 64, 100, 0.0)]
    with pytest.raises(VideoError):
        from_json('["abc,100,0.0"]')
    with pytest.raises(VideoError):
        from_json("[]")
    problems = HashBank().import_threatexchange(
        {"data": [{"id": "9", "type": "HASH_VIDEO_VPDQ", "raw_indicator": "not json"}]}
    )
    assert problems[0] == 0 and problems[1][0].startswith("descriptor 9: not a vPDQ hash")


def test_a_file_that_is_not_a_video_is_refused(tmp_path: Path) -> None:
    if not ffmpeg_available():
        pytest.skip("ffmpeg is not installed")
    junk = tmp_path / "clip.mp4"
    junk.write_bytes(b"<html>not a video</html>")
    with pytest.raises(VideoError):
        vpdq_hash(junk, use="ffmpeg")
