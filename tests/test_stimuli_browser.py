"""Chromium decodes the spliced stimulus videos frame for frame as ffmpeg does."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import subprocess
import threading
from pathlib import Path

import imageio_ffmpeg
import pytest

from stimuli import h264

CHROMIUM = "/usr/bin/chromium"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]

# WebCodecs: decode the video's H.264 access units with Chromium's decoder and hash each
# frame's packed I420 planes.
DECODE = """async (units) => {
  const hashes = [];
  const frames = [];
  const decoder = new VideoDecoder({output: (f) => frames.push(f), error: (e) => { throw e; }});
  decoder.configure({codec: units.codec, optimizeForLatency: true});
  units.chunks.forEach((b64, i) => decoder.decode(new EncodedVideoChunk({
    type: units.keys[i] ? 'key' : 'delta', timestamp: i * 16667,
    data: Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))})));
  await decoder.flush();
  for (const f of frames) {
    const buf = new Uint8Array(f.allocationSize());
    await f.copyTo(buf);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
    hashes.push([f.format, Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')]);
    f.close();
  }
  return hashes;
}"""

# The <video> element: plays to the end without error; reports duration and frame counts.
PLAY = """async (src) => {
  const v = document.createElement('video');
  v.muted = true;
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 20000));
  const played = new Promise((resolve, reject) => {
    v.onerror = () => reject(new Error('media error ' + v.error.code));
    v.onended = () => setTimeout(resolve, 50);
  });
  v.src = src;
  await v.play();
  await Promise.race([played, timeout]);
  const q = v.getVideoPlaybackQuality();
  return {duration: v.duration, total: q.totalVideoFrames, dropped: q.droppedVideoFrames};
}"""


@pytest.fixture(scope="module")
def served(small_experiment, tmp_path_factory):
    """A blank page and the small experiment's videos over plain HTTP on 127.0.0.1 (a thread)."""
    root = tmp_path_factory.mktemp("served")
    (root / "blank.html").write_text("<!doctype html><title>blank</title>")
    (root / "videos").symlink_to(small_experiment / "videos")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def ffmpeg_frame_hashes(path: Path, size: int) -> list[str]:
    """SHA-256 of each frame ffmpeg decodes, as packed yuv420p planes."""
    raw = subprocess.run([FFMPEG, "-v", "error", "-nostdin", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    n = size * size * 3 // 2
    return [hashlib.sha256(raw[i:i + n]).hexdigest() for i in range(0, len(raw), n)]


def access_units(path: Path) -> dict:
    """The video's access units (Annex B, base64) as ffmpeg demuxes them, and the codec string."""
    stream = subprocess.run([FFMPEG, "-v", "error", "-nostdin", "-i", str(path), "-c", "copy",
                             "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-"],
                            capture_output=True, check=True).stdout
    units = h264.split_access_units(stream)
    sps = next(n for n in units[0] if h264.nal_type(n) == h264.NAL_SPS)
    return {"codec": f"avc1.{sps[1:4].hex()}",
            "chunks": [base64.b64encode(h264.annex_b(u)).decode() for u in units],
            "keys": [any(h264.nal_type(n) == h264.NAL_IDR for n in u) for u in units]}


@pytest.mark.parametrize("frames", [1, 30])
def test_chromium_decodes_every_frame_as_ffmpeg_does(small_experiment, served, browser_page, frames):
    stim = json.loads((small_experiment / "stimuli.json").read_text())
    for vid, meta in stim["videos"].items():
        if meta["image_id"] not in ("star_2", "circle_1") or meta["frames"] != frames:
            continue
        path = small_experiment / meta["file"]
        decoded = browser_page.evaluate(DECODE, access_units(path))
        assert [fmt for fmt, _ in decoded] == ["I420"] * meta["total_frames"]
        assert [h for _, h in decoded] == ffmpeg_frame_hashes(path, stim["size"])
        played = browser_page.evaluate(PLAY, f"/{meta['file']}")
        assert played["duration"] == pytest.approx(meta["total_frames"] / 60, abs=1e-3)
        assert played["total"] == meta["total_frames"]


@pytest.fixture(scope="module")
def browser_page(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page()
        page.goto(f"{served}/blank.html")
        yield page
        browser.close()
