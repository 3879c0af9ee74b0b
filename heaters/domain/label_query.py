"""Which ImageNet classes a text query names, and how a clip scores against them.

Text search used to score every clip by `sum(p(tag) * similarity(query, tag))`, so a clip with a
confident tag that is merely *somewhat* similar to everything ("Windsor tie" 0.42) topped queries
it had nothing to do with. Now a query is first resolved to the classes it means, and only those:

1. by name, through the WordNet tree of the 1000 classes (`models/imagenet_hierarchy.json`):
   a lemma of the query ("dogs" -> "dog") that names a synset selects every class under it
   ("dog" -> the 118 breeds, "vehicle" -> cars, buses, scooters; a noun just below the tree
   counts as its hypernym: "puppy" -> dog, "sedan" -> car), weight 1;
2. by meaning: the text encoder's cosine of the query to each class name, keeping only the
   classes within `margin` of the best one and above `floor` (a relative cut-off), weighted by
   how close they come to the best. When the words already name synsets, only near-synonyms
   of kin classes join (a stricter cut-off): "bird" keeps its 59 birds and does not add
   "birdhouse", "antelope" does not add "ant". A query with words that name nothing ("web
   page": only "web" does) asks the encoder about the whole phrase as well.

A clip then scores by the probability it gives the matched classes: `sum(p(tag) * weight(tag))`,
in [0, 1]. A clip whose tags are not matched scores 0, however confident it is. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Words that never name an object on their own (a query "a dog on the beach" keeps dog, beach).
STOPWORDS = frozenset(
    "a an the of on in at to with and or for from by near under over some any my your this that"
    " these those is are was were be photo picture image video clip shot scene footage".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


@dataclass(frozen=True)
class Hierarchy:
    """The ImageNet classes as WordNet synsets: class order, lemmas and hypernyms of every synset
    from the classes up to the root, and irregular plurals of their lemmas."""

    classes: tuple[str, ...]
    lemmas: Mapping[str, tuple[str, ...]]
    hypernyms: Mapping[str, tuple[str, ...]]
    plurals: Mapping[str, str] = field(default_factory=dict)
    hyponyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # "puppy" -> (dog,)
    _by_lemma: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)
    _under: dict[str, frozenset[int]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Hierarchy:
        synsets = doc["synsets"]
        return cls(
            classes=tuple(doc["classes"]),
            lemmas={w: tuple(s["lemmas"]) for w, s in synsets.items()},
            hypernyms={w: tuple(s["hypernyms"]) for w, s in synsets.items()},
            plurals=dict(doc.get("plurals", {})),
            hyponyms={k: tuple(v) for k, v in doc.get("hyponyms", {}).items()},
        )

    def __post_init__(self) -> None:
        by_lemma: dict[str, list[str]] = {}
        for wnid, names in self.lemmas.items():
            for name in names:
                by_lemma.setdefault(name.lower(), []).append(wnid)
        for name, targets in self.hyponyms.items():  # the tree's own names come first
            by_lemma.setdefault(name.lower(), list(targets))
        self._by_lemma.update({k: tuple(sorted(v)) for k, v in by_lemma.items()})
        children: dict[str, list[str]] = {}
        for wnid, parents in self.hypernyms.items():
            for parent in parents:
                children.setdefault(parent, []).append(wnid)
        index = {wnid: i for i, wnid in enumerate(self.classes)}
        # every synset's classes, leaves first (a DAG: WordNet has a few multiple parents)
        memo: dict[str, frozenset[int]] = {}

        def under(wnid: str) -> frozenset[int]:
            if wnid not in memo:
                own = {index[wnid]} if wnid in index else set()
                memo[wnid] = frozenset(own.union(*(under(c) for c in children.get(wnid, ()))))
            return memo[wnid]

        for wnid in self.lemmas:
            under(wnid)
        self._under.update(memo)

    def synsets_named(self, term: str) -> tuple[str, ...]:
        """Synsets with `term` among their lemmas (case-insensitive), e.g. "dog" -> dog.n.01;
        for a noun just below the tree, its hypernym there ("puppy" -> dog.n.01)."""
        return self._by_lemma.get(term.lower(), ())

    def classes_under(self, wnid: str) -> frozenset[int]:
        """Indices of the classes at or below a synset."""
        return self._under.get(wnid, frozenset())

    def ancestors(self, wnid: str) -> frozenset[str]:
        """Every synset above `wnid` (not itself)."""
        seen: set[str] = set()
        todo = list(self.hypernyms.get(wnid, ()))
        while todo:
            w = todo.pop()
            if w not in seen:
                seen.add(w)
                todo.extend(self.hypernyms.get(w, ()))
        return frozenset(seen)

    def kin(self, a: int, b: int, max_classes: int) -> bool:
        """Whether classes a and b meet under a synset of at most `max_classes` classes
        (moped and motor scooter do; an ant and an impala only under "animal")."""
        for w in self.ancestors(self.classes[a]):
            under = self.classes_under(w)
            if len(under) <= max_classes and b in under:
                return True
        return False

    def singular(self, word: str) -> str | None:
        """A lemma the word is a plural of, if any: WordNet's exceptions, then its suffix rules."""
        if word in self.plurals:
            return self.plurals[word]
        for suffix, repl in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"),
                             ("xes", "x"), ("zes", "z"), ("ses", "s"), ("men", "man"), ("s", "")):  # fmt: skip
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                base = word[: -len(suffix)] + repl
                if base in self._by_lemma:
                    return base
        return None


@dataclass(frozen=True)
class MatchParams:
    """The relative cut-off of the meaning match (cosines of all-MiniLM-L6-v2)."""

    floor: float = 0.5  # below this the best class is not what the query means: no match
    margin: float = 0.08  # keep classes within this of the best one
    # With a name match, a class outside the named synsets joins only as a near-synonym
    # ("motorbike" names moped.n.01; "motor scooter" is as close in meaning)
    # and is kin to a named class (they meet under a synset of at most this many classes)
    alias_floor: float = 0.65
    alias_margin: float = 0.06
    alias_kin: int = 50
    compound_margin: float = 0.15  # a compound's head keeps the classes this close to the best
    max_ngram: int = 4


DEFAULT_PARAMS = MatchParams()
# A clip must give the named classes at least this probability to be a hit: 1 % is the
# classifier's leftovers (a motorcycle photo's "mountain bike" 0.4 %), not an answer.
MIN_SCORE = 0.01


@dataclass(frozen=True)
class LabelMatch:
    """Class index -> weight in (0, 1], and why each class was chosen (for --json, debugging)."""

    weights: Mapping[int, float]
    reasons: Mapping[int, str]

    def by_name(self, labels: Sequence[str]) -> dict[str, float]:
        """Weights per class name (a name used by two classes keeps the larger weight)."""
        out: dict[str, float] = {}
        for i, w in self.weights.items():
            out[labels[i]] = max(w, out.get(labels[i], 0.0))
        return out


def query_words(query: str) -> list[str]:
    return _WORD.findall(query.lower().replace("_", " "))


def lexical_matches(query: str, hierarchy: Hierarchy, max_ngram: int = 4) -> dict[int, str]:
    """Classes named by the query's words: the longest word runs that are a lemma (or a plural of
    one) in the tree, each expanded to every class under its synsets."""
    return _lexical(query, hierarchy, max_ngram)[0]


def _lexical(query: str, hierarchy: Hierarchy, max_ngram: int) -> tuple[dict[int, str], bool, bool]:
    """`lexical_matches`, and whether the names say it all. They don't when a content word names
    nothing ("web page": only "web" is a name) or when adjacent names form a compound the tree
    lacks ("computer screen": the head, "screen", is kept; "computer" only qualifies it); then
    the phrase's meaning must be asked too. A name before a head that names nothing is dropped
    ("web page" is no spider web). Returns (classes, names say it all, compound)."""
    words = query_words(query)
    runs: list[list[dict[int, str] | None]] = [[]]  # per run of adjacent content words: its
    # segments in order, the classes a name gives or None for a word that names nothing
    unnamed = 0
    i = 0
    while i < len(words):
        if words[i] in STOPWORDS:
            runs.append([])
            i += 1
            continue
        for n in range(min(max_ngram, len(words) - i), 0, -1):
            run = words[i : i + n]
            if any(w in STOPWORDS for w in run[1:]) and n > 1:
                continue
            phrase = " ".join(run)
            forms = [phrase, phrase.replace("-", " "), phrase + "s"]  # "cows" is a lemma
            singular = hierarchy.singular(run[-1])
            if singular is not None:
                forms.append(" ".join([*run[:-1], singular]))
            hits = [w for f in forms for w in hierarchy.synsets_named(f)]
            classes = {c: f"{phrase!r} names {w}" for w in hits for c in hierarchy.classes_under(w)}
            if classes:
                runs[-1].append(classes)
                i += n
                break
        else:
            runs[-1].append(None)
            unnamed += 1
            i += 1
    out: dict[int, str] = {}
    compound = False
    for segments in runs:
        # the head is the run's last word: "web page" is no web, "a red car" is a car
        if not segments or segments[-1] is None:
            continue
        compound = compound or sum(seg is not None for seg in segments) > 1
        for c, why in segments[-1].items():
            out.setdefault(c, why)
    return out, unnamed == 0 and not compound, compound


def meaning_matches(
    similarities: Sequence[float], params: MatchParams = DEFAULT_PARAMS
) -> dict[int, float]:
    """Classes whose name the encoder puts within `margin` of the best, weighted 1 for the best
    down to 0.5 at the cut-off; nothing if even the best is under `floor`."""
    best = max(similarities, default=0.0)
    if best < params.floor:
        return {}
    cut = max(params.floor, best - params.margin)
    span = max(best - cut, 1e-9)
    return {
        i: round(0.5 + 0.5 * (s - cut) / span, 4) for i, s in enumerate(similarities) if s >= cut
    }


def only_a_modifier(query: str, label: str) -> bool:
    """Whether the query's words occur in the class name only as a modifier of another head noun:
    a tree frog is a frog, a hand blower a blower, a running shoe a shoe. The encoder likes
    such names for "tree", "hand", "running" because they share a word, not a meaning."""
    q = [w for w in query_words(query) if w not in STOPWORDS]
    words = query_words(label)
    if not q or len(words) <= len(q):
        return False
    for i in range(len(words) - len(q)):  # every position but the one ending on the head
        if words[i : i + len(q)] == q:
            return True
    return False


def match(
    query: str,
    hierarchy: Hierarchy,
    similarities: Sequence[float] | None,
    params: MatchParams = DEFAULT_PARAMS,
    labels: Sequence[str] | None = None,
) -> LabelMatch:
    """The classes a query means: by name through the tree, plus those the encoder finds close
    in meaning (`similarities[i]` for class i; None: by name only). With `labels` (class names),
    a class whose name holds the query only as a modifier is never a meaning match."""
    named, whole, compound = _lexical(query, hierarchy, params.max_ngram)
    if compound and similarities is not None:
        # "computer screen" names every "screen" (curtains, shoji, a fire screen); keep those the
        # whole phrase is close to, as for a meaning match but with a wider margin
        best = max(similarities, default=0.0)
        named = {
            c: why for c, why in named.items() if similarities[c] >= best - params.compound_margin
        }
    weights: dict[int, float] = {c: 1.0 for c in named}
    reasons: dict[int, str] = dict(named)
    strict = bool(named) and whole  # every word is a name: only kin near-synonyms may join
    if similarities is not None:
        cut = MatchParams(params.alias_floor, params.alias_margin) if strict else params
        for c, w in meaning_matches(similarities, cut).items():
            if strict and not any(hierarchy.kin(c, n, params.alias_kin) for n in named):
                continue
            if labels is not None and only_a_modifier(query, labels[c]):
                continue
            if c not in weights:
                weights[c] = w
                reasons[c] = f"cosine {similarities[c]:.2f}"
    return LabelMatch(weights, reasons)


def score(tags: Iterable[Sequence[Any]], weights: Mapping[str, float]) -> float:
    """A clip's score: the probability it gives the matched classes, `sum(p * weight)`."""
    return float(sum(float(p) * weights.get(str(label), 0.0) for label, p in tags))
