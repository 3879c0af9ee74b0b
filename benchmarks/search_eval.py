"""Text search quality on real footage, old scoring vs new, plus latency at 100k clips.

Run by hand, from the repository root:

    # 1. the photos that ship in the scikit-image / scikit-learn wheels, in a throwaway venv
    python3 -m venv /tmp/venv-photos && /tmp/venv-photos/bin/pip install scikit-image scikit-learn
    /tmp/venv-photos/bin/python benchmarks/search_eval.py dump-photos /tmp/photos
    # 2. the library (real videos + one 2 s still video per photo, through `heaters run`) and
    #    the labelled queries: recall@1, recall@5, MRR and hubness for both scorings
    python benchmarks/search_eval.py quality --photos /tmp/photos [--media tests/media]
    # 3. latency of the whole `search` (encode the query, match labels, query the store)
    python benchmarks/search_eval.py latency [--clips 100000]

Scorings compared:
- old: every clip scores sum(p(tag) * max(0, cosine(query, tag))) over its 5 tags
  (`text_encoder.score_tags`), so any confident tag a little similar to the query counts;
- new: the query names classes (`heaters.domain.label_query`: WordNet tree by name, the encoder by
  meaning with a relative cut-off) and clips score by the probability they give those classes.

A query's relevant clips are given by file and time (a clip is relevant if it covers the time).
recall@k: share of answerable queries with a relevant clip in the top k; MRR: mean of 1/rank of
the first relevant clip (0 when none is returned). Hubness: how many queries one clip tops
without being relevant (the worst clip), over all queries including those with no answer in
the library (which should return nothing, or at least nothing confident).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHOTO_SECONDS = 2.0


# --------------------------------------------------------------------------- the labelled set


@dataclass(frozen=True)
class Where:
    """A relevant span: a file (stem) and, for real videos, a time inside the shot."""

    stem: str
    at_s: float | None = None


@dataclass(frozen=True)
class Query:
    text: str
    relevant: tuple[Where, ...] = ()
    in_tags: bool = True  # False: no tag of a relevant clip names it (no ImageNet class fits)


def w(stem: str, at_s: float | None = None) -> Where:
    return Where(stem, at_s)


# What is in the footage, checked by eye on every clip's keyframes. Photos (scikit-image /
# scikit-learn wheels) by name. tests/media: goldeneye-vfr-drop3 0-8.8 s a computer screen (a
# search program's UI), 8.8-10 s a man and a woman in front of it; issue-195-aspect-ratio 0-2.8 s
# and 19.4-25 s hands holding a small object, 2.8-6.8 s and 12-19.4 s a glass bowl / cup with
# origami, 6.8-12 s two women at a table before shelves of boxes (an archive); testvideo 1-6 s a
# dry leaf on a rock, 6-24 s a deer, then the leaf, then a texture (fades keep them one clip).
# counter, delayed_start, fades: test patterns, answers to nothing.
QUERIES: tuple[Query, ...] = (
    Query("cat", (w("chelsea"),)),
    Query("kitten", (w("chelsea"),)),
    Query("tabby cat", (w("chelsea"),)),
    Query("coffee", (w("coffee"),)),
    Query("espresso", (w("coffee"),)),
    Query("a cup of coffee", (w("coffee"),)),
    Query("cup", (w("coffee"), w("issue-195-aspect-ratio", 15.0))),
    Query("motorbike", (w("stereo_motorcycle"),)),
    Query("motorcycle", (w("stereo_motorcycle"),)),
    Query("scooter", (w("stereo_motorcycle"),)),
    Query("vehicle", (w("stereo_motorcycle"),)),
    Query("rocket", (w("rocket"),)),
    Query("missile", (w("rocket"),)),
    Query("space shuttle", (w("rocket"), w("astronaut"))),
    Query("astronaut", (w("astronaut"),), in_tags=False),
    Query("flower", (w("flower"),)),
    Query("daisy", (w("flower"),)),
    Query("temple", (w("china"),)),
    Query("palace", (w("china"),)),
    Query("pagoda", (w("china"),)),
    Query("clock", (w("clock"),)),
    Query("wall clock", (w("clock"),)),
    Query("tripod", (w("camera"),)),
    Query("camera", (w("camera"),)),
    Query("menu", (w("page"),)),
    Query("crossword", (w("page"), w("text"))),
    Query("computer", (w("goldeneye-vfr-drop3", 1.0), w("goldeneye-vfr-drop3", 5.0))),
    Query("monitor", (w("goldeneye-vfr-drop3", 1.0), w("goldeneye-vfr-drop3", 5.0))),
    Query("computer screen", (w("goldeneye-vfr-drop3", 1.0), w("goldeneye-vfr-drop3", 5.0))),
    Query("web page", (w("goldeneye-vfr-drop3", 1.0), w("goldeneye-vfr-drop3", 5.0))),
    Query("library", (w("issue-195-aspect-ratio", 9.0),)),
    Query("bookshelf", (w("issue-195-aspect-ratio", 9.0),)),
    Query(
        "glass bowl",
        (w("issue-195-aspect-ratio", 4.0), w("issue-195-aspect-ratio", 15.0)),
        in_tags=False,
    ),
    Query(
        "hand", (w("issue-195-aspect-ratio", 1.0), w("issue-195-aspect-ratio", 22.0)), in_tags=False
    ),
    Query("antelope", (w("testvideo", 9.0),)),
    Query("deer", (w("testvideo", 9.0),), in_tags=False),
    Query("leaf", (w("testvideo", 3.0),), in_tags=False),
    Query("horse", (w("horse"),), in_tags=False),
    Query("coins", (w("coins"),), in_tags=False),
    Query("moon", (w("moon"),), in_tags=False),
    Query("galaxy", (w("hubble_deep_field"),), in_tags=False),
    Query("brick wall", (w("brick"),), in_tags=False),
    # nothing in the library answers these: a good search returns nothing, or little
    Query("dog"),
    Query("bird"),
    Query("bicycle"),
    Query("bus"),
    Query("bridge"),
    Query("car"),
    Query("racing car"),
    Query("rabbit"),
    Query("taxi"),
    Query("dice"),
    Query("airplane"),
    Query("pizza"),
    Query("guitar"),
    Query("snake"),
    Query("banana"),
    Query("necktie"),
)


# --------------------------------------------------------------------------- building the library


def dump_photos(out: Path) -> None:
    """The real photographs of the scikit-image and scikit-learn wheels, as PNG (run in a venv
    that has them; heaters' own venv need not)."""
    import skimage.data as data
    from PIL import Image
    from sklearn.datasets import load_sample_images

    out.mkdir(parents=True, exist_ok=True)
    names = ["astronaut", "brick", "camera", "chelsea", "clock", "coffee", "coins", "colorwheel",
             "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo",
             "moon", "page", "retina", "rocket", "stereo_motorcycle", "text", "microaneurysms"]  # fmt: skip
    for name in names:
        x = getattr(data, name)()
        x = np.asarray(x[0] if isinstance(x, tuple) else x)
        if x.dtype == bool:
            x = x.astype(np.uint8) * 255
        if x.dtype != np.uint8:
            x = (255 * (x - x.min()) / (x.max() - x.min() + 1e-9)).astype(np.uint8)
        Image.fromarray(x).convert("RGB").save(out / f"{name}.png")
    samples = load_sample_images()
    for filename, image in zip(samples.filenames, samples.images, strict=True):
        Image.fromarray(image).save(out / (Path(filename).stem + ".png"))
    print(f"{len(list(out.glob('*.png')))} photos in {out}")


def heaters(home: Path, *args: str) -> str:
    env = {**os.environ, "HEATERS_HOME": str(home)}
    proc = subprocess.run(
        [sys.executable, "-m", "heaters", *args], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"heaters {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def still_video(photo: Path, out: Path) -> Path:
    """A photo as a 2 s video, so it goes through the same pipeline as footage."""
    from heaters.synthetic import ffmpeg_exe

    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-loop", "1", "-i", str(photo), "-t", str(PHOTO_SECONDS),
         "-r", "10", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", str(out)],
        check=True,
    )  # fmt: skip
    return out


def build_library(home: Path, media: Path, photos: Path) -> None:
    """Ingest every video of `media` and every photo of `photos`, run, approve all, run."""
    if (home / "heaters.db").exists():
        return
    stills = home.parent / f"{home.name}-stills"
    stills.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p) for p in media.glob("*.mp4"))
    files += [str(still_video(p, stills / f"{p.stem}.mp4")) for p in sorted(photos.glob("*.png"))]
    heaters(home, "ingest", *files)
    heaters(home, "run", "--quiet")
    for clip in json.loads(heaters(home, "clips", "--state", "pending_review", "--json")):
        heaters(home, "review", "approve", str(clip["id"]), "--quiet")
    heaters(home, "run", "--grace", "0", "--quiet")


@dataclass
class LibraryClip:
    clip_id: int
    stem: str
    start_s: float
    end_s: float
    tags: list[tuple[str, float]] = field(default_factory=list)

    def covers(self, where: Where) -> bool:
        if where.stem != self.stem:
            return False
        return where.at_s is None or self.start_s <= where.at_s < self.end_s


def load_library(home: Path) -> list[LibraryClip]:
    videos = {v["id"]: v for v in json.loads(heaters(home, "videos", "--json"))}
    out = []
    for c in json.loads(heaters(home, "clips", "--state", "embedded", "--json")):
        v = videos[c["source_video_id"]]
        source = v.get("local_path") or v.get("url") or v.get("filepath") or ""
        out.append(
            LibraryClip(
                int(c["id"]),
                Path(source).stem,
                float(c["start_time_s"]),
                float(c["end_time_s"]),
                [(str(t[0]), float(t[1])) for t in c["tags"]],
            )
        )
    return out


# --------------------------------------------------------------------------- scoring and metrics


def rank_old(clips: list[LibraryClip], query: str) -> list[tuple[int, float]]:
    """The scoring before issue 15: every tag counts by its cosine to the query."""
    from heaters.stages.text_encoder import label_similarities, score_tags

    sims = label_similarities(query)
    scored = [(c.clip_id, score_tags(c.tags, sims)) for c in clips]
    return sorted([h for h in scored if h[1] > 0], key=lambda h: (-h[1], h[0]))


def rank_new(home: Path, query: str, model: str = "efficientnet_lite0") -> list[tuple[int, float]]:
    """What `heaters search` does now: name the classes, then ask the store."""
    from heaters.domain.label_query import MIN_SCORE
    from heaters.stages.text_encoder import query_labels
    from heaters.store import search
    from heaters.store.store import Store

    _match, weights = query_labels(query)
    store = Store.open(home)
    try:
        with store.tx(write=False) as session:
            return search.text(session, weights, model, 10_000, MIN_SCORE)
    finally:
        store.close()


@dataclass
class Report:
    name: str
    r1: float
    r5: float
    mrr: float
    tags_r1: float
    tags_r5: float
    tags_mrr: float
    hub_clip: int | None
    hub_count: int
    unrelated_top1: int
    empty_unanswerable: int
    rows: list[str]


def evaluate(
    name: str, clips: list[LibraryClip], rankings: dict[str, list[tuple[int, float]]]
) -> Report:
    by_id = {c.clip_id: c for c in clips}
    r1 = r5 = rr = 0.0
    t1 = t5 = trr = 0.0
    answerable = [q for q in QUERIES if q.relevant]
    in_tags = [q for q in answerable if q.in_tags]
    hubs: Counter[int] = Counter()
    empty = 0
    rows = []
    for q in QUERIES:
        ranked = [cid for cid, _ in rankings[q.text]]
        relevant = {c.clip_id for c in clips if any(c.covers(where) for where in q.relevant)}
        if q.relevant and not relevant:
            raise SystemExit(f"{q.text!r}: no clip covers {q.relevant}")
        first = next((i for i, cid in enumerate(ranked) if cid in relevant), None)
        if q.relevant:
            r1 += first == 0
            r5 += first is not None and first < 5
            rr += 0.0 if first is None else 1.0 / (first + 1)
        if q.relevant and q.in_tags:
            t1 += first == 0
            t5 += first is not None and first < 5
            trr += 0.0 if first is None else 1.0 / (first + 1)
        if not q.relevant and not ranked:
            empty += 1
        if ranked and ranked[0] not in relevant:
            hubs[ranked[0]] += 1
        top = by_id[ranked[0]] if ranked else None
        rows.append(
            f"| {q.text} | {'yes' if q.relevant else 'no'} | "
            f"{'-' if first is None else first + 1} | "
            + (f"{top.stem}@{top.start_s:.0f}s ({top.tags[0][0]})" if top else "nothing")
            + " |"
        )
    hub_clip, hub_count = hubs.most_common(1)[0] if hubs else (None, 0)
    n, m = len(answerable), len(in_tags)
    return Report(name, r1 / n, r5 / n, rr / n, t1 / m, t5 / m, trr / m, hub_clip, hub_count,
                  sum(hubs.values()), empty, rows)  # fmt: skip


def quality(home: Path, media: Path, photos: Path) -> None:
    build_library(home, media, photos)
    clips = load_library(home)
    print(f"library: {home} — {len(clips)} embedded clips from "
          f"{len({c.stem for c in clips})} sources; {len(QUERIES)} queries "
          f"({sum(1 for q in QUERIES if q.relevant)} with an answer in the library)")  # fmt: skip
    old = evaluate("old", clips, {q.text: rank_old(clips, q.text) for q in QUERIES})
    new = evaluate("new", clips, {q.text: rank_new(home, q.text) for q in QUERIES})
    by_id = {c.clip_id: c for c in clips}
    n_tags = sum(1 for q in QUERIES if q.relevant and q.in_tags)
    print(f"| scoring | recall@1 | recall@5 | MRR | the {n_tags} whose answer is in the tags: "
          "R@1 / R@5 / MRR | top-1 unrelated (of all queries) | worst hub: unrelated queries it "
          "tops | unanswerable queries returning nothing |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in (old, new):
        hub = by_id.get(r.hub_clip) if r.hub_clip else None
        hub_s = f"{r.hub_count} ({hub.stem}@{hub.start_s:.0f}s, {hub.tags[0][0]})" if hub else "0"
        print(f"| {r.name} | {r.r1:.2f} | {r.r5:.2f} | {r.mrr:.2f} | {r.tags_r1:.2f} / "
              f"{r.tags_r5:.2f} / {r.tags_mrr:.2f} | {r.unrelated_top1} / "
              f"{len(QUERIES)} | {hub_s} | {r.empty_unanswerable} / "
              f"{sum(1 for q in QUERIES if not q.relevant)} |")  # fmt: skip
    print(
        "\n| query | answerable | old: rank of first relevant | old top-1 | new: rank | new top-1 |"
    )
    print("|---|---|---|---|---|---|")
    for a, b in zip(old.rows, new.rows, strict=True):
        pa, pb = a.strip("| ").split(" | "), b.strip("| ").split(" | ")
        print(f"| {pa[0]} | {pa[1]} | {pa[2]} | {pa[3]} | {pb[2]} | {pb[3]} |")


# --------------------------------------------------------------------------- latency at 100k


LATENCY_QUERIES = ("motorbike", "dog", "a dog on the beach", "bird", "vehicle", "animal", "cat",
                   "coffee", "racing car", "kitten", "puppy", "helicopter", "bridge", "bus",
                   "antelope", "a man in a car", "computer screen", "flower", "tree", "dice")  # fmt: skip


def fill_synthetic(home: Path, n: int, seed: int = 0) -> None:
    """n embedded clips whose tags come from synthetic logits through the embed stage's own
    `top_tags`: one dominant class per clip (Zipf-like popularity), a few related runners-up."""
    from sqlalchemy import text

    from heaters.stages.embed import _softmax, top_tags
    from heaters.stages.models import EFFICIENTNET_LITE0, load_labels
    from heaters.store import vectors
    from heaters.store.store import Store

    labels = load_labels(EFFICIENTNET_LITE0)
    assert labels is not None
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, 1001) ** 0.8
    dominant = rng.choice(1000, size=n, p=popularity / popularity.sum())
    store = Store.open(home)
    with store.tx() as s:
        s.execute(text("INSERT INTO source_videos (id, url, state, created_at, updated_at)"
                       " VALUES (1, 'bench://', 'spliced', 0, 0)"))  # fmt: skip
        s.execute(
            text("INSERT INTO clips (id, source_video_id, start_frame, end_frame, start_time_s,"
                 " end_time_s, state, created_at, updated_at)"
                 " VALUES (:i, 1, :a, :b, 0, 1, 'embedded', 0, 0)"),
            [{"i": i + 1, "a": i * 10, "b": i * 10 + 10} for i in range(n)],
        )  # fmt: skip
        for lo in range(0, n, 1000):
            hi = min(lo + 1000, n)
            logits = rng.normal(size=(hi - lo, 1000)).astype(np.float32)
            rows = np.arange(hi - lo)
            logits[rows, dominant[lo:hi]] += rng.uniform(5, 10, hi - lo)
            near = np.clip(dominant[lo:hi] + rng.integers(-3, 4, hi - lo), 0, 999)
            logits[rows, near] += rng.uniform(3, 7, hi - lo)
            probs = _softmax(logits)
            items = [
                (
                    int(lo + r + 1),
                    rng.random(8).astype(np.float32),
                    list(top_tags(probs[r], labels)),
                )
                for r in rows
            ]
            vectors.put_many(s, "efficientnet_lite0", "keyframe_multi_avg", items)
    store.close()


def latency(n: int, repeats: int, keep: Path | None = None) -> None:
    from sqlalchemy import text

    from heaters.stages.text_encoder import label_similarities, query_labels, score_tags
    from heaters.store import search
    from heaters.store.store import Store

    with tempfile.TemporaryDirectory(prefix="heaters-search-lat-") as tmp:
        home = keep or Path(tmp)
        if not (home / "heaters.db").exists():
            t0 = time.perf_counter()
            fill_synthetic(home, n)
            print(f"{n} synthetic clips stored in {time.perf_counter() - t0:.0f} s")
        store = Store.open(home)
        query_labels("warm up")  # load the encoder and the tree once, as any process does
        total, store_only, old = [], [], []
        per_query: dict[str, list[float]] = {}
        counts = []
        with store.tx(write=False) as session:
            for _ in range(repeats):
                for q in LATENCY_QUERIES:
                    t0 = time.perf_counter()
                    _m, weights = query_labels(q)
                    t1 = time.perf_counter()
                    hits = search.text(session, weights, "efficientnet_lite0", 12)
                    t2 = time.perf_counter()
                    total.append(t2 - t0)
                    store_only.append(t2 - t1)
                    counts.append(len(weights))
                    per_query.setdefault(q, []).append(t2 - t0)
                    del hits
            for q in LATENCY_QUERIES[:5]:  # the old way: every clip's tags through Python
                t0 = time.perf_counter()
                sims = label_similarities(q)
                rows = session.execute(text("SELECT e.clip_id, e.tags FROM embeddings e JOIN clips c"
                                            " ON c.id = e.clip_id WHERE e.model = :m AND c.state"
                                            " NOT IN ('merged', 'split')"),
                                       {"m": "efficientnet_lite0"}).all()  # fmt: skip
                scored = sorted(((score_tags([(t[0], t[1]) for t in json.loads(tj)], sims), c)
                                 for c, tj in rows), reverse=True)[:12]  # fmt: skip
                old.append(time.perf_counter() - t0)
                del scored
        store.close()
    ms = 1000.0
    print(f"queries: {len(LATENCY_QUERIES)} x {repeats}; labels named per query: median "
          f"{statistics.median(counts)}, max {max(counts)}")  # fmt: skip
    print(
        f"new search, whole (encode + match + store): p50 {statistics.median(total) * ms:.1f} ms,"
        f" p95 {np.percentile(total, 95) * ms:.1f} ms, max {max(total) * ms:.1f} ms"
    )
    print(
        f"new search, store query only:               p50 {statistics.median(store_only) * ms:.1f}"
        f" ms, p95 {np.percentile(store_only, 95) * ms:.1f} ms"
    )
    slow = sorted(per_query, key=lambda q: -statistics.median(per_query[q]))[:5]
    print("slowest (median ms):", ", ".join(
        f"{q!r} {statistics.median(per_query[q]) * ms:.0f}" for q in slow))  # fmt: skip
    print(f"old search (every clip's tags in Python):   p50 {statistics.median(old) * ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump-photos")
    d.add_argument("out", type=Path)
    q = sub.add_parser("quality")
    q.add_argument("--photos", type=Path, required=True)
    default_media = ROOT / "tests" / "media"
    if not default_media.is_dir():
        default_media = ROOT.parent / "shared" / "media"
    q.add_argument("--media", type=Path, default=default_media)
    q.add_argument("--home", type=Path, default=None, help="keep (and reuse) the library here")
    lat = sub.add_parser("latency")
    lat.add_argument("--clips", type=int, default=100_000)
    lat.add_argument("--repeats", type=int, default=5)
    lat.add_argument("--keep", type=Path, default=None, help="fill once here, reuse after")
    args = parser.parse_args()
    if args.cmd == "dump-photos":
        dump_photos(args.out)
    elif args.cmd == "quality":
        home = args.home or Path(tempfile.mkdtemp(prefix="heaters-search-eval-")) / "home"
        quality(home, args.media, args.photos)
    else:
        latency(args.clips, args.repeats, args.keep)


if __name__ == "__main__":
    main()
