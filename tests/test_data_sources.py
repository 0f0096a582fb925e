"""Sources: compressed local files stream identically; Lichess months download with resume and SHA-256 check."""
import bz2
import gzip
import hashlib
import http.server
import threading

import pytest
import zstandard
from data_fixtures import pgn

from data_pipeline import build as build_mod
from data_pipeline import sources

NAME = "lichess_db_standard_rated_2013-01.pgn.zst"


def test_plain_zst_gz_bz2_stream_the_same_bytes(tmp_path):
    text, _ = pgn.random_pgn(30, seed=1)
    raw = text.encode()
    (tmp_path / "a.pgn").write_bytes(raw)
    (tmp_path / "a.pgn.zst").write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(raw))
    (tmp_path / "a.pgn.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "a.pgn.bz2").write_bytes(bz2.compress(raw))
    for name in ("a.pgn", "a.pgn.zst", "a.pgn.gz", "a.pgn.bz2"):
        assert b"".join(sources.iter_blocks(tmp_path / name)) == raw, name
    with pytest.raises(FileNotFoundError, match="lichess:YYYY-MM"):
        list(sources.iter_blocks(tmp_path / "missing.pgn"))


def test_truncated_gz_names_file_and_offset(tmp_path):
    text, _ = pgn.random_pgn(200, seed=2)
    data = gzip.compress(text.encode())
    (tmp_path / "t.pgn.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(sources.StreamError, match=r"t\.pgn\.gz.*byte \d+") as e:
        list(sources.iter_blocks(tmp_path / "t.pgn.gz"))
    assert 0 < e.value.offset <= len(data) // 2


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    ranges: list[str | None] = []

    def do_GET(self):  # noqa: N802
        body = self.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        if self.path.endswith(".pgn.zst"):
            self.ranges.append(rng)
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    text, truth = pgn.random_pgn(25, seed=3)
    dump = zstandard.ZstdCompressor(write_checksum=True).compress(text.encode())
    _RangeHandler.files = {NAME: dump,
                           "sha256sums.txt": f"{hashlib.sha256(dump).hexdigest()}  {NAME}\n".encode()}
    _RangeHandler.ranges = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/standard", dump, truth
    httpd.shutdown()


def test_download_resumes_from_partial_file_and_verifies(server, tmp_path):
    url, dump, _ = server
    (tmp_path / (NAME + ".part")).write_bytes(dump[:1000])  # an interrupted earlier download
    path = sources.resolve_source("lichess:2013-01", tmp_path, base_url=url)
    assert open(path, "rb").read() == dump
    assert _RangeHandler.ranges == ["bytes=1000-"]
    assert not (tmp_path / (NAME + ".part")).exists()
    assert sources.resolve_source("lichess:2013-01", tmp_path, base_url=url) == path  # cached: no new request
    assert _RangeHandler.ranges == ["bytes=1000-"]


def test_checksum_mismatch_deletes_the_download(server, tmp_path):
    url, dump, _ = server
    (tmp_path / (NAME + ".part")).write_bytes(b"x" * 1000)  # a corrupt partial file
    with pytest.raises(ValueError, match="SHA-256"):
        sources.resolve_source("lichess:2013-01", tmp_path, base_url=url)
    assert not (tmp_path / NAME).exists() and not (tmp_path / (NAME + ".part")).exists()


def test_offline_error_says_how_to_pass_a_local_file(tmp_path):
    with pytest.raises(ConnectionError, match="--source /path/to/" + NAME):
        sources.resolve_source("lichess:2013-01", tmp_path, base_url="http://127.0.0.1:9/standard")
    with pytest.raises(ValueError, match="YYYY-MM"):
        sources.resolve_source("lichess:2013", tmp_path)


def test_build_from_a_lichess_month(server, tmp_path, monkeypatch):
    url, _, truth = server
    monkeypatch.setattr(sources, "LICHESS_BASE_URL", url)
    m = build_mod.build(build_mod.BuildConfig(sources=("lichess:2013-01",), out_dir=str(tmp_path / "out"),
                                              cache_dir=str(tmp_path / "cache")))
    assert m["sources"] == ["lichess:2013-01"] and m["counts"]["kept"] == len(truth)
