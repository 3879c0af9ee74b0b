#!/usr/bin/env python3
"""CI: heaters as a user installs it. Build the wheel, check it carries every package and the
models, install it into a fresh venv outside the checkout, and run it from there: the demo, an
embedding, similar and search, and `heaters --home DIR status`.

Run by `.ci/run` after the test suite: `python .ci/installed.py` (needs network or a pip cache
for the dependencies, like the suite's own install).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL_FILES = ("efficientnet_lite0.onnx", "imagenet_labels.txt", "minilm_l6_v2_int8.onnx",
               "minilm_vocab.txt", "imagenet_label_text.npy", "imagenet_hierarchy.json",
               "transnetv2.onnx")  # fmt: skip


def sh(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    print("+", " ".join(str(a) for a in args), flush=True)
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def check_wheel(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in MODEL_FILES if f"heaters/_models/{f}" not in names]
    packages = sorted(
        p.parent.relative_to(REPO).as_posix() for p in (REPO / "heaters").rglob("__init__.py")
    )
    missing += [f"{p}/__init__.py" for p in packages if f"{p}/__init__.py" not in names]
    if missing:
        sys.exit(f"the wheel lacks {missing} (pyproject: [tool.setuptools] packages/package-data)")
    print(f"wheel ok: {len(names)} files, models and {len(packages)} packages", flush=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="heaters-installed-") as tmp:
        work = Path(tmp)
        sh(sys.executable, "-m", "pip", "wheel", REPO, "-w", work / "wheel", "--no-deps", "-q",
           cwd=work)  # fmt: skip
        wheel = next((work / "wheel").glob("heaters-*.whl"))
        check_wheel(wheel)
        # nothing from the checkout's environment: with PYTHONPATH on it, pip would take its
        # heaters.egg-info for an installed heaters and skip the wheel
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "HEATERS_HOME", "HEATERS_MODELS_DIR", "VIRTUAL_ENV")}  # fmt: skip
        env["PATH"] = f"{work / 'venv/bin'}{os.pathsep}{env.get('PATH', '')}"
        sh(sys.executable, "-m", "venv", work / "venv", cwd=work, env=env)
        sh(work / "venv/bin/pip", "install", "-q", wheel, cwd=work, env=env)
        run = work / "run"  # outside the checkout: nothing can come from the source tree
        run.mkdir()
        home = run / "home"

        def heaters(*args: str) -> str:
            return sh(work / "venv/bin/heaters", *args, cwd=run, env=env)

        where = sh(work / "venv/bin/python", "-c",
                   "import heaters, heaters.stages.models as m; print(heaters.__file__);"
                   " print(m.models_dir())", cwd=run, env=env).split()  # fmt: skip
        if any(str(REPO) in w for w in where):
            sys.exit(f"the installed heaters runs from the checkout: {where}")
        demo = json.loads(heaters("--home", str(home), "demo", "--json"))
        clips = [c["id"] for c in demo["clip_list"]]
        for clip in clips[:4]:
            heaters("--home", str(home), "review", "approve", str(clip), "--quiet")
        report = json.loads(heaters("--home", str(home), "run", "--grace", "0", "--json"))
        if report["clips"].get("embedded", 0) < 4 or report["status"] != "ok":
            sys.exit(f"embedding from the installed wheel failed: {report}")
        similar = json.loads(heaters("--home", str(home), "similar", str(clips[0]), "--json"))
        hits = similar.get("results", similar) if isinstance(similar, dict) else similar
        if len(hits) < 3:
            sys.exit(f"similar found {similar}")
        json.loads(heaters("--home", str(home), "search", "traffic light", "--json"))
        status = json.loads(heaters("--home", str(home), "status", "--json"))
        if status["home"] != str(home) or not status["time"]:
            sys.exit(f"status: {status}")
        print(f"installed heaters ok: {len(clips)} clips, 4 embedded, similar {len(hits)} hits",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
