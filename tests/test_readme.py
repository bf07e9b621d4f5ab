"""The examples in README.md and docs/USAGE.md run, as written, against a live service (the URL swapped
in); the READMEs and docs/ link only to what exists in the repository."""

import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.support import REPO, start_service, stop_service, text_image

README = (REPO / "README.md").read_text()
USAGE = (REPO / "docs" / "USAGE.md").read_text()  # the rest of the examples: curl, the clients, callbacks
DOCS = sorted((REPO / "docs").glob("*.md"))


def blocks(lang: str, text: str = README) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("readme")
    proc, url, log = start_service(tmp)
    yield url
    stop_service(proc, log)


@pytest.fixture
def workdir(tmp_path):
    img = Image.fromarray(text_image())
    img.save(tmp_path / "photo.png")
    img.save(tmp_path / "photo.jpg", quality=95)
    return tmp_path


def _cleaned(path):
    out = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return np.abs(out[85:115, 45:195] - [200, 180, 160]).mean() < 12


@pytest.mark.parametrize("text", [README, USAGE], ids=["README.md", "docs/USAGE.md"])
def test_curl_examples(live, workdir, text):
    script = next(b for b in blocks("bash", text) if "inpaint-regions" in b).replace("http://localhost:8081", live)
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert '"success":true' in r.stdout and '"status":"healthy"' in r.stdout
    assert _cleaned(workdir / "clean.png")  # the last one written (in docs/USAGE.md: the async task's result)


def test_python_example(live, workdir):
    code = blocks("python", USAGE)[0].replace("http://localhost:8081", live)
    r = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(REPO / "clients" / "python"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "healthy"
    assert _cleaned(workdir / "clean.png")


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_javascript_example(live, workdir):
    code = blocks("js", USAGE)[0].replace("http://localhost:8081", live).replace(
        "./clients/js/src/index.js", (REPO / "clients" / "js" / "src" / "index.js").as_uri())
    (workdir / "example.mjs").write_text(code)
    r = subprocess.run(["node", "example.mjs"], cwd=workdir, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert _cleaned(workdir / "clean.png")


def _product_files():
    """What a user of the repository reads or runs: the READMEs, docs/, app/ and the clients (their
    own tests aside, which import the sources beside them)."""
    files = [*REPO.glob("README*.md"), *(REPO / "docs").rglob("*")]
    for top in ("app", "clients"):
        files += [p for p in (REPO / top).rglob("*")
                  if not {"node_modules", "test", "__pycache__", ".pytest_cache"} & set(p.parts)
                  and "egg-info" not in str(p)]
    return [p for p in files if p.is_file() and p.suffix in (".md", ".py", ".js", ".ts", ".mjs", ".json", ".html",
                                                             ".css", ".toml", ".txt")]


def test_no_path_outside_the_repository():
    assert (REPO / "docs" / "API.md").is_file()
    for path in _product_files():
        text = path.read_text()
        for bad in ("../", "/work/", "/root/", "/home/"):
            assert bad not in text, f"{path.relative_to(REPO)} names {bad!r}"


def _anchors(path) -> set[str]:
    """The anchors GitHub gives a page's headings (fenced code, whose `#` lines are no headings, left out)."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def _check_links(path) -> list[str]:
    """Every relative link of `path` names a file inside the repository, and a heading of it after `#`."""
    links = [t for t in re.findall(r"\]\(([^)\s]+)\)", path.read_text()) if not t.startswith(("http://", "https://"))]
    for target in links:
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        assert dest.is_relative_to(REPO) and dest.exists(), f"{path.relative_to(REPO)}: {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest), f"{path.relative_to(REPO)}: {target}"
    return links


@pytest.mark.parametrize("name", ["README.md", "README.ja.md", "README.zh.md"])
def test_readme_links_resolve_inside_the_repository(name):
    links = [t.partition("#")[0] for t in _check_links(REPO / name)]
    assert "docs/API.md" in links  # the contract travels with the repository
    assert {f"docs/{p.name}" for p in DOCS} <= set(links)  # and every page of docs/ is one link away


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_docs_links_resolve_inside_the_repository(page):
    _check_links(page)


def test_translations_show_the_same_examples():
    """README.ja.md and README.zh.md carry exactly README.md's code (one example, tested above); the
    rest, the signed-callback receiver among it, is in docs/USAGE.md, which they link to."""
    code = re.findall(r"```\w*\n.*?```", README, flags=re.S)
    for name in ("README.ja.md", "README.zh.md"):
        assert re.findall(r"```\w*\n.*?```", (REPO / name).read_text(), flags=re.S) == code, name


def test_callback_receiver_example_checks_signatures_and_drops_repeats(tmp_path):
    import time

    import httpx

    from app.tasks.callbacks import sign
    from tests.support import free_port

    port = free_port()
    code = next(b for b in blocks("python", USAGE) if "verify_signature" in b)
    code = code.replace('("0.0.0.0", 8000)', f'("127.0.0.1", {port})')
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={"PYTHONPATH": str(REPO / "clients" / "python"), "PATH": "/usr/bin:/bin",
                                            "CALLBACK_SECRET": "shh"})
    try:
        url = f"http://127.0.0.1:{port}/hook"
        body = b'{"task_id":"job-1","status":"completed","timestamp":1.0}'

        def post(signature, delivery="d-1", data=body):
            return httpx.post(url, content=data, headers={"X-IOPaint-Signature": signature,
                                                          "X-IOPaint-Delivery": delivery}).status_code

        for _ in range(100):  # until it listens
            try:
                httpx.get(url)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        now = int(time.time())
        assert post(sign("shh", body, now)) == 204
        assert post(sign("shh", body, now + 1)) == 204  # a retry: same delivery id, handled once
        assert post(sign("wrong", body, now), "d-2") == 401
        assert post(sign("shh", body, now - 3600), "d-3") == 401  # replayed an hour later
        assert post(sign("shh", body, now), "d-4", body.replace(b"completed", b"error")) == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert out.splitlines() == ["job-1 completed"]
