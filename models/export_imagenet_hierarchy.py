"""Export the WordNet hypernym tree of the 1000 ImageNet classes as data (imagenet_hierarchy.json).

Run once, with plain Python (no heaters, no third-party packages):

    pip download timm --no-deps -d /tmp/timm          # the wheel is read as a zip, never installed
    apt-get install wordnet-base                       # WordNet 3.0: /usr/share/wordnet/data.noun
    python3 models/export_imagenet_hierarchy.py /tmp/timm/timm-*.whl [/usr/share/wordnet]

Why: the ImageNet-1k classes are WordNet 3.0 noun synsets, so "dog" means the 120 breeds under
`dog.n.01` and "vehicle" every car, bus and scooter. Text search expands a query through this tree
instead of guessing from name similarity alone.

- The class order (ids `n01440764` ... in logit order) comes from timm's
  `timm/data/_info/imagenet_synsets.txt` (Apache-2.0), and is checked against the first lemma of
  each class and `imagenet_labels.txt`.
- Lemmas and hypernyms (`@` and instance hypernyms `@i`) come from WordNet 3.0's `data.noun`.
- Two edges are added (`ADDED_HYPERNYMS`: bus and train are vehicles), listed in the output.
- `hyponyms` maps nouns one level below the tree to it ("puppy" -> dog.n.01), see
  `hyponym_names`.
- `plurals` keeps WordNet's irregular noun forms (`noun.exc`) whose base form is a lemma in the
  tree ("geese" -> "goose"); regular plurals are left to the run-time rules.

Output (deterministic, sorted keys, ~150 KB): `{"classes": [wnid x 1000], "synsets": {wnid:
{"lemmas": [...], "hypernyms": [...]}}, "plurals": {...}, "source": ...}`; every hypernym of every
listed synset is listed too, up to `entity.n.01`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "imagenet_hierarchy.json"
LABELS = HERE / "imagenet_labels.txt"
SYNSETS_IN_WHEEL = "timm/data/_info/imagenet_synsets.txt"
# WordNet 3.0 files buses and trains under "public transport" only, so "vehicle" would miss them.
# Two added edges, kept apart in the output (`added_hypernyms`) so they are never mistaken for
# WordNet's own.
PERSON = "n00007846"  # person.n.01
MAX_HYPONYM_CLASSES = 150  # "puppy" -> the 118 dogs
# a hypernym this far from the root is a kind of thing (dog 13, car 11, shoe 7 is not); nearer,
# it is an abstraction whose classes share little ("robot" -> mechanism: a potter's wheel,
# "beach" -> geological formation: an alp, "dashboard" -> protective covering: a birdhouse)
MIN_HYPONYM_DEPTH = 8
ADDED_HYPERNYMS = {
    "n02924116": ("n03791235",),  # bus.n.01 -> motor_vehicle.n.01
    "n04468005": ("n04576211",),  # train.n.01 -> wheeled_vehicle.n.01
}


@dataclass(frozen=True)
class Synset:
    wnid: str
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]


def parse_data_noun(path: Path) -> dict[str, Synset]:
    """WordNet's `data.noun`: offset lex_file type w_cnt (word lex_id)* p_cnt (ptr offset pos src)*."""
    out: dict[str, Synset] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line or line.startswith(" "):
            continue  # the licence header lines start with two spaces
        fields = line.split(" | ", 1)[0].split()
        offset, _lex, _type, w_hex = fields[:4]
        n_words = int(w_hex, 16)
        words = fields[4 : 4 + 2 * n_words : 2]
        pos = 4 + 2 * n_words
        n_ptrs = int(fields[pos])
        hypernyms = []
        for i in range(n_ptrs):
            symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
            if symbol in ("@", "@i") and target_pos == "n":
                hypernyms.append("n" + target)
        # adjective markers such as "(p)" only occur on adjectives; strip them anyway
        lemmas = tuple(w.split("(")[0].replace("_", " ") for w in words)
        out["n" + offset] = Synset("n" + offset, lemmas, tuple(hypernyms))
    return out


def hyponym_names(
    data: dict[str, Synset],
    tree: dict[str, Synset],
    classes: set[str],
    index_noun: Path,
    tree_lemmas: set[str],
) -> dict[str, tuple[str, ...]]:
    """Nouns just below the tree: a word whose most frequent sense (WordNet's first) is not in
    the tree but whose direct hypernym is ("puppy" -> dog, "sedan" -> car, "deer" -> ruminant).
    Only one level down (two would turn "tree" into daisy, via vascular plant), only the
    narrowest such hypernym, at most MAX_HYPONYM_CLASSES classes, at least MIN_HYPONYM_DEPTH
    below the root, and never a person (ImageNet has three kinds of people, none a "woman")."""
    children: dict[str, list[str]] = {}
    for wnid, s in tree.items():
        for parent in s.hypernyms:
            children.setdefault(parent, []).append(wnid)
    memo: dict[str, frozenset[str]] = {}

    def under(wnid: str) -> frozenset[str]:
        if wnid not in memo:
            own = {wnid} if wnid in classes else set()
            memo[wnid] = frozenset(own.union(*(under(c) for c in children.get(wnid, ()))))
        return memo[wnid]

    def is_person(wnid: str) -> bool:
        todo, seen = [wnid], set()
        while todo:
            w = todo.pop()
            if w == PERSON:
                return True
            if w not in seen:
                seen.add(w)
                todo.extend(tree[w].hypernyms if w in tree else ())
        return False

    depth_memo: dict[str, int] = {}

    def depth(wnid: str) -> int:  # the longest hypernym path up to entity.n.01
        if wnid not in depth_memo:
            parents = tree[wnid].hypernyms
            depth_memo[wnid] = 1 + max(map(depth, parents)) if parents else 0
        return depth_memo[wnid]

    out: dict[str, tuple[str, ...]] = {}
    for line in index_noun.read_text(encoding="latin-1").splitlines():
        if not line or line.startswith(" "):
            continue
        fields = line.split()
        lemma = fields[0].replace("_", " ").lower()
        first = "n" + fields[4 + int(fields[3]) + 2]  # senses follow the pointer symbols
        if lemma in tree_lemmas or first in tree or first not in data:
            continue
        targets = [
            t
            for t in data[first].hypernyms
            if t in tree and not is_person(t) and depth(t) >= MIN_HYPONYM_DEPTH
        ]
        sized = sorted((len(under(t)), t) for t in targets if under(t))
        if sized and sized[0][0] <= MAX_HYPONYM_CLASSES:
            out[lemma] = tuple(t for n, t in sized if n == sized[0][0])
    return out


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    wheel = Path(sys.argv[1])
    wordnet = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/usr/share/wordnet")
    with zipfile.ZipFile(wheel) as zf:
        classes = zf.read(SYNSETS_IN_WHEEL).decode().split()
    assert len(classes) == 1000 and len(set(classes)) == 1000, len(classes)

    data = parse_data_noun(wordnet / "data.noun")
    labels = LABELS.read_text(encoding="utf-8").splitlines()
    mismatched = [
        (i, wnid, labels[i])
        for i, wnid in enumerate(classes)
        if labels[i].lower() not in {lemma.lower() for lemma in data[wnid].lemmas}
    ]
    # torchvision renamed a few classes (e.g. "crane" stays, "maillot" twice); report, don't fail
    print(f"{len(mismatched)} class names not among their synset's lemmas", file=sys.stderr)
    for row in mismatched[:20]:
        print("  ", *row, file=sys.stderr)

    for wnid, extra in ADDED_HYPERNYMS.items():
        s = data[wnid]
        data[wnid] = Synset(
            wnid, s.lemmas, s.hypernyms + tuple(e for e in extra if e not in s.hypernyms)
        )
    tree: dict[str, Synset] = {}
    todo = list(classes)
    while todo:
        wnid = todo.pop()
        if wnid in tree:
            continue
        tree[wnid] = data[wnid]
        todo.extend(data[wnid].hypernyms)

    lemmas = {lemma.lower() for s in tree.values() for lemma in s.lemmas}
    hyponyms = hyponym_names(data, tree, set(classes), wordnet / "index.noun", lemmas)
    lemmas |= set(hyponyms)
    plurals: dict[str, str] = {}
    for line in (wordnet / "noun.exc").read_text(encoding="latin-1").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            form, base = parts[0].replace("_", " "), parts[1].replace("_", " ")
            if base in lemmas and form != base:
                plurals.setdefault(form, base)

    doc = {
        "source": {
            "classes": f"{wheel.name}:{SYNSETS_IN_WHEEL}",
            "classes_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "wordnet": "WordNet 3.0 data.noun and noun.exc (Debian wordnet-base 1:3.0)",
            "data_noun_sha256": hashlib.sha256((wordnet / "data.noun").read_bytes()).hexdigest(),
        },
        "classes": classes,
        "synsets": {
            wnid: {"lemmas": list(s.lemmas), "hypernyms": list(s.hypernyms)}
            for wnid, s in sorted(tree.items())
        },
        "plurals": dict(sorted(plurals.items())),
        "hyponyms": {k: list(v) for k, v in sorted(hyponyms.items())},
        "added_hypernyms": {k: list(v) for k, v in sorted(ADDED_HYPERNYMS.items())},
    }
    # one line per top-level key: small, and a diff still says which part changed
    lines = [
        f"{json.dumps(k)}:{json.dumps(doc[k], sort_keys=True, ensure_ascii=False, separators=(',', ':'))}"
        for k in sorted(doc)
    ]
    OUT.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(
        f"{OUT.name}: {len(tree)} synsets, {len(plurals)} irregular plurals, "
        f"{OUT.stat().st_size} bytes, sha256 {hashlib.sha256(OUT.read_bytes()).hexdigest()}"
    )


if __name__ == "__main__":
    main()
