"""deploy/serve.py for real: 2 Streamlit replicas behind Debian's HAProxy on loopback, driven by the websocket
client of bench/stproto.py. Sessions stick to the replica their SRV cookie names, uploads through the proxy
work every time, a dead replica leaves the other serving, and the class load test runs through the proxy.

HAProxy missing: a skip here, a failure in CI (.ci/run installs it)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, png_pixels, run_async
from PIL import Image

sys.path.insert(0, str(ROOT / "bench"))
from load_class import run_load  # noqa: E402
from stproto import Session  # noqa: E402

from deploy.serve import Deployment, haproxy_config, upload_body_limit  # noqa: E402

pytestmark = pytest.mark.deploy


def _need_haproxy():
    if shutil.which("haproxy") is None:
        if os.environ.get("CI"):
            pytest.fail("the deploy tests must run in CI: haproxy is missing (apt-get install haproxy)")
        pytest.skip("haproxy is not installed (apt-get install haproxy)")


@pytest.fixture(scope="module")
def dep(tmp_path_factory):
    _need_haproxy()
    d = Deployment(replicas=2, run_dir=tmp_path_factory.mktemp("deploy"))
    d.start()
    yield d
    d.stop()


def _png(h: int, w: int, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_the_generated_config_is_what_haproxy_accepts_and_what_we_promised(tmp_path):
    _need_haproxy()
    cfg = haproxy_config([18501, 18502], port=18080)
    for line in ("cookie SRV insert indirect nocache", "timeout tunnel 1h", "option httpchk GET /_stcore/health",
                 "server r1 127.0.0.1:18501 check cookie r1", "server r2 127.0.0.1:18502 check cookie r2",
                 f"req.hdr_val(content-length) gt {20 * 1024 * 1024}"):
        assert line in cfg, line
    assert "ip_hash" not in cfg and "balance source" not in cfg
    (tmp_path / "h.cfg").write_text(cfg)
    out = subprocess.run(["haproxy", "-c", "-f", str(tmp_path / "h.cfg")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_every_replica_gets_the_same_generated_cookie_secret(dep):
    secrets_seen = set()
    for pid in dep.replica_pids():
        env = dict(kv.split("=", 1) for kv in
                   open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace").split("\0") if "=" in kv)
        secrets_seen.add(env["STREAMLIT_SERVER_COOKIE_SECRET"])
        assert dep.cookie_secret not in " ".join(open(f"/proc/{pid}/cmdline").read().split("\0"))  # not in ps
    assert secrets_seen == {dep.cookie_secret} and len(dep.cookie_secret) == 64
    assert (dep.run_dir / "cookie_secret").stat().st_mode & 0o077 == 0


def test_every_session_sticks_to_the_replica_its_cookie_names(dep):
    """16 websocket sessions through the proxy: each one's session lives on the replica its SRV cookie names
    (a direct upload to that replica accepts the session id, the other replica rejects it as unknown), its
    later requests through the proxy all land there, and both replicas get sessions."""

    async def go():
        sessions = [Session(dep.url, "") for _ in range(16)]
        for s in sessions:
            await s.connect()
        rs = await asyncio.gather(*(s.open() for s in sessions))
        assert all(r.ok for r in rs), [r.status for r in rs]
        out = []
        for s in sessions:
            srv = s.cookies["SRV"]
            assert s.replica == srv   # the websocket handshake itself went there
            through_proxy = [s.upload_sync("a.bin", b"abc")[2] for _ in range(3)]
            i = int(srv[1:])
            direct_own = s.upload_sync("a.bin", b"abc", url=dep.replica_url(i))[0]
            direct_other = s.upload_sync("a.bin", b"abc", url=dep.replica_url(3 - i))[0]
            r = await s.rerun([])   # the websocket still works afterwards
            out.append((srv, through_proxy, direct_own, direct_other, r.ok))
            await s.close()
        return out

    out = run_async(go())
    for srv, through_proxy, own, other, ok in out:
        assert through_proxy == [srv] * 3
        assert (own, other) == (204, 400)
        assert ok
    counts = {srv: sum(1 for o in out if o[0] == srv) for srv in ("r1", "r2")}
    assert counts["r1"] >= 4 and counts["r2"] >= 4, counts


def test_an_upload_through_the_proxy_works_50_times_out_of_50(dep):
    """The kernel sandbox's uploader, through the proxy with the sticky cookie: 50 uploads of different
    PNG sizes, each accepted, and the page then draws the uploaded picture at its size, without an error."""

    async def go():
        results = []
        async with Session(dep.url, "kernel_sandbox") as s:
            assert (await s.open()).ok
            src = s.find(key="img_source")
            assert (await s.rerun(s.set(src, "Upload"))).ok
            up = s.find(key="img_upload")
            for k in range(50):
                h, w = 20 + k, 30 + 2 * k
                data = _png(h, w, k)
                status, fid, replica = await s.upload(f"digit {k}.png", data, "image/png")
                r = await s.rerun(s.uploaded_state(up, [(f"digit {k}.png", len(data), fid)]))
                fig = json.loads(s.find(key="input_fig").proto.spec)
                shown = png_pixels(fig["data"][0]["source"])  # the page's picture of the upload
                sent = np.asarray(Image.open(io.BytesIO(data)))
                results.append((status, replica, r.ok, r.exceptions, shown.shape[:2], (h, w),
                                shown.shape == sent.shape and bool(np.array_equal(shown, sent))))
        return results, s.cookies["SRV"]

    results, srv = run_async(go())
    assert [r[0] for r in results] == [204] * 50
    assert {r[1] for r in results} == {srv}
    assert all(r[2] for r in results), [r[3] for r in results if not r[2]]
    assert [r[4] for r in results] == [r[5] for r in results]
    assert all(r[6] for r in results)  # pixel for pixel the uploaded picture


def test_the_proxy_refuses_a_body_larger_than_max_upload_size(dep):
    limit = upload_body_limit()
    assert limit == 20 * 1024 * 1024   # .streamlit/config.toml: maxUploadSize = 20
    host, port = dep.url.split("//")[1].split(":")
    for length, expect in ((limit + 1, b" 413 "), (limit, None)):
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(f"PUT /_stcore/upload_file/x/y HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n"
                         "Content-Type: multipart/form-data; boundary=b\r\n\r\n".encode())
            sock.settimeout(3)
            try:
                head = sock.recv(200)
            except socket.timeout:
                head = b""   # the proxy waits for the body: it passed the header check
        status_line = head.split(b"\r\n")[0]
        if expect:
            assert expect in status_line, head
        else:   # let through: a replica answers (403 without the xsrf token) or still waits for the body
            assert b" 413 " not in status_line, head


def test_the_class_load_test_runs_through_the_proxy(dep):
    rep = run_async(run_load(dep.url, "kernel_sandbox", 8, "at-once", rounds=2, pids=dep.replica_pids(),
                               timeout=180))
    assert rep.errors == 0, rep.error_samples
    assert rep.interactions == 16
    assert set(rep.replicas) == {"r1", "r2"}
    assert rep.cpu_s > 0 and rep.p95 >= rep.p50 > 0


def test_killing_one_replica_leaves_the_other_serving_new_sessions(tmp_path):
    _need_haproxy()
    with Deployment(replicas=2, run_dir=tmp_path) as d:

        async def open_many(n, cookies=None):
            out = []
            for _ in range(n):
                s = Session(d.url, "")
                if cookies:
                    s.cookies.update(cookies)
                await s.connect()
                r = await s.open()
                out.append((r.ok, s.cookies.get("SRV"), s.replica))
                await s.close()
            return out

        before = run_async(open_many(4))
        assert {b[1] for b in before} == {"r1", "r2"} and all(b[0] for b in before)
        d.kill_replica(2)
        # at once, before HAProxy's health check has noticed (redispatch), and again after it has
        right_away = run_async(open_many(4))
        time.sleep(6)   # inter 2s fall 2
        later = run_async(open_many(6))
        stale = run_async(open_many(2, cookies={"SRV": "r2"}))   # a browser whose cookie names the dead one
        for ok, srv, replica in right_away + later + stale:
            assert ok and replica == "r1", (ok, srv, replica)
        assert all(srv == "r1" for _, srv, _ in later)


def _get(url: str, gzip_ok: bool, timeout: float = 10):
    import urllib.request

    req = urllib.request.Request(url, headers={"Cookie": "SRV=r1", **({"Accept-Encoding": "gzip"} if gzip_ok else {})})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.headers, r.read()


def test_static_files_come_from_the_proxy_cache_gzip_compressed(dep):
    """Streamlit's biggest static file (Plotly's chunk) through the proxy: gzip-compressed for a browser that
    accepts it and byte for byte the file Streamlit ships; asked again while every replica is frozen
    (SIGSTOP), it still arrives, plain or compressed: it came from HAProxy's cache, not from a replica."""
    import gzip
    import signal

    import streamlit

    static = Path(streamlit.__file__).parent / "static"
    chunk = max(static.glob("static/js/*.js"), key=lambda f: f.stat().st_size)
    url = dep.url + "/" + chunk.relative_to(static).as_posix()
    on_disk = chunk.read_bytes()
    assert len(on_disk) > 1_000_000
    head, body = _get(url, gzip_ok=True)
    assert head.get("Content-Encoding") == "gzip" and len(body) < 0.7 * len(on_disk)
    assert gzip.decompress(body) == on_disk
    pids = dep.replica_pids()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        head2, body2 = _get(url, gzip_ok=True, timeout=5)
        head3, body3 = _get(url, gzip_ok=False, timeout=5)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert gzip.decompress(body2) == on_disk and head2.get("Age") is not None
    assert head3.get("Content-Encoding") is None and body3 == on_disk
    # index.html says no-cache: always asked of a replica (a frozen replica would not answer it)
    head4, _ = _get(dep.url + "/", gzip_ok=False)
    assert head4.get("Age") is None and "no-cache" in head4.get("Cache-Control", "")
