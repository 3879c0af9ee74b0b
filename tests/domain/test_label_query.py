"""Query -> the ImageNet classes it names: by name through the WordNet tree, by meaning with a
relative cut-off, and clip scores that only count the named classes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from heaters.domain.label_query import (
    Hierarchy,
    MatchParams,
    lexical_matches,
    match,
    meaning_matches,
    score,
)

MODELS = Path(__file__).resolve().parents[2] / "models"

# A toy tree: entity > animal > {dog > (poodle, pug), bird > robin}, entity > vehicle > car
TOY = Hierarchy(
    classes=("n_poodle", "n_pug", "n_robin", "n_car", "n_tie"),
    lemmas={
        "n_entity": ("entity",),
        "n_animal": ("animal", "beast"),
        "n_dog": ("dog", "domestic dog"),
        "n_poodle": ("poodle",),
        "n_pug": ("pug", "pug-dog"),
        "n_bird": ("bird",),
        "n_robin": ("robin", "American robin"),
        "n_vehicle": ("vehicle",),
        "n_car": ("car", "auto", "racing car"),
        "n_tie": ("Windsor tie",),
    },
    hypernyms={
        "n_animal": ("n_entity",),
        "n_dog": ("n_animal",),
        "n_poodle": ("n_dog",),
        "n_pug": ("n_dog",),
        "n_bird": ("n_animal",),
        "n_robin": ("n_bird",),
        "n_vehicle": ("n_entity",),
        "n_car": ("n_vehicle",),
        "n_tie": ("n_entity",),
    },
    plurals={"geese": "goose"},
)
TOY_LABELS = ("poodle", "pug", "robin", "car", "Windsor tie")


@cache
def real() -> tuple[Hierarchy, list[str]]:
    doc = json.loads((MODELS / "imagenet_hierarchy.json").read_text(encoding="utf-8"))
    labels = (MODELS / "imagenet_labels.txt").read_text(encoding="utf-8").splitlines()
    return Hierarchy.from_json(doc), labels


def names(query: str) -> set[str]:
    h, labels = real()
    return {labels[c] for c in lexical_matches(query, h)}


def test_a_synset_expands_to_every_class_below_it() -> None:
    assert set(lexical_matches("dog", TOY)) == {0, 1}
    assert set(lexical_matches("animal", TOY)) == {0, 1, 2}
    assert set(lexical_matches("entity", TOY)) == {0, 1, 2, 3, 4}
    assert set(lexical_matches("poodle", TOY)) == {0}


def test_plurals_case_stopwords_and_phrases() -> None:
    assert set(lexical_matches("Dogs", TOY)) == {0, 1}
    assert set(lexical_matches("a dog on the sofa", TOY)) == {0, 1}
    assert set(lexical_matches("racing cars", TOY)) == {3}
    assert set(lexical_matches("the pug-dog", TOY)) == {1}
    assert set(lexical_matches("american robins", TOY)) == {2}
    assert set(lexical_matches("dogs and birds", TOY)) == {0, 1, 2}
    assert lexical_matches("a the of", TOY) == {}
    assert lexical_matches("sunset", TOY) == {}
    assert TOY.singular("geese") == "goose" and TOY.singular("puppies") is None


def test_meaning_match_keeps_only_classes_near_the_best() -> None:
    params = MatchParams(floor=0.5, margin=0.1)
    assert meaning_matches([0.2, 0.45, 0.49], params) == {}  # nothing is close enough
    close = meaning_matches([0.9, 0.85, 0.79, 0.3], params)
    assert set(close) == {0, 1} and close[0] == 1.0 and 0.5 <= close[1] < 1.0


def test_without_a_name_match_the_encoder_decides() -> None:
    sims = [0.3, 0.2, 0.1, 0.72, 0.4]  # "automobile" is no lemma here; the car is closest
    found = match("automobile", TOY, sims)
    assert dict(found.weights) == {3: 1.0}
    assert found.by_name(TOY_LABELS) == {"car": 1.0}
    assert match("automobile", TOY, None).weights == {}


def test_a_name_match_admits_only_kin_near_synonyms() -> None:
    # "pug" names n_pug; the encoder also likes "poodle" (kin: both dogs) and the tie (no kin)
    sims = [0.7, 0.75, 0.1, 0.1, 0.74]
    found = match("pug", TOY, sims, MatchParams(alias_floor=0.65, alias_margin=0.06, alias_kin=2))
    assert set(found.weights) == {0, 1}
    assert found.weights[1] == 1.0 and 0.5 <= found.weights[0] <= 1.0


def test_a_confident_unrelated_clip_scores_nothing() -> None:
    weights = {"moped": 1.0, "motor scooter": 1.0}
    scooter_clip = [("moped", 0.31), ("motor scooter", 0.28), ("crash helmet", 0.1)]
    tie_clip = [("Windsor tie", 0.42), ("bow tie", 0.2), ("suit", 0.1)]
    assert score(tie_clip, weights) == 0.0
    assert score(scooter_clip, weights) == pytest.approx(0.59)
    assert score([], weights) == 0.0


# ---- the shipped tree (models/imagenet_hierarchy.json)


def test_the_shipped_tree_has_the_1000_classes_in_label_order() -> None:
    h, labels = real()
    assert len(h.classes) == len(set(h.classes)) == 1000 == len(labels)
    assert h.lemmas[h.classes[0]][0] == "tench" and labels[0] == "tench"
    assert labels[517] == "crane" and "crane" in h.lemmas[h.classes[517]]


def test_hierarchy_expansion_on_the_shipped_tree() -> None:
    assert {"impala", "gazelle", "hartebeest"} <= names("antelope")
    dogs = names("dog")
    assert len(dogs) == 118 and {"beagle", "Pomeranian", "Siberian husky"} <= dogs
    assert "hotdog" not in dogs and "dogsled" not in dogs
    vehicles = names("vehicle")
    assert {"sports car", "school bus", "motor scooter", "moped", "cab", "bullet train"} <= vehicles
    assert "Windsor tie" not in vehicles
    birds = names("birds")
    assert len(birds) == 59 and {"albatross", "crane bird", "bald eagle"} <= birds
    assert "birdhouse" not in birds and "crane" not in birds
    assert names("buses") == {"school bus", "trolleybus", "minibus"}


def test_motorbike_admits_the_scooter_but_antelope_never_the_ant() -> None:
    h, labels = real()
    sims = [0.0] * 1000
    sims[labels.index("motor scooter")] = 0.68  # the encoder's cosines for these queries
    sims[labels.index("ant")] = 0.66
    moto = match("motorbike", h, sims).by_name(labels)
    assert set(moto) == {"moped", "motor scooter"}
    ante = match("antelope", h, sims).by_name(labels)
    assert "ant" not in ante and {"impala", "gazelle"} <= set(ante)


def test_a_phrase_only_partly_named_still_asks_the_encoder() -> None:
    # "house pug": the head "pug" names a class, "house" nothing; the encoder likes the tie
    sims = [0.1, 0.3, 0.1, 0.1, 0.7]
    assert set(match("house pug", TOY, sims).weights) == {1, 4}
    # "pug house": the head names nothing, so it is no pug ("web page" is no spider web)
    assert set(match("pug house", TOY, sims).weights) == {4}
    strict = MatchParams(alias_kin=2)  # in the toy tree everything meets under "entity" (5)
    assert set(match("pug", TOY, sims, strict).weights) == {1}  # fully named: the tie is no kin


def test_a_compound_keeps_its_head_and_only_the_senses_the_phrase_is_close_to() -> None:
    # "robin car": both words name classes; the head "car" is kept, the robin only qualifies it
    sims = [0.1, 0.1, 0.3, 0.8, 0.1]
    assert set(match("robin car", TOY, sims).weights) == {3}
    h, labels = real()
    sims2 = [0.0] * 1000
    for name, cos in (("soup bowl", 0.66), ("beer glass", 0.65), ("mixing bowl", 0.62),
                      ("goblet", 0.3)):  # fmt: skip
        sims2[labels.index(name)] = cos
    found = match("glass bowl", h, sims2).by_name(labels)
    # the bowls (the head), and the beer glass only as close in meaning; not the goblet
    assert set(found) == {"soup bowl", "mixing bowl", "beer glass"}
    assert names("computer screen") == {"screen"}  # WordNet's own compound: CRT screen


def test_a_noun_just_below_the_tree_counts_as_its_hypernym() -> None:
    toy = Hierarchy(
        classes=TOY.classes,
        lemmas=TOY.lemmas,
        hypernyms=TOY.hypernyms,
        hyponyms={"puppy": ("n_dog",), "poodle": ("n_car",)},  # the tree's own names win
    )
    assert set(lexical_matches("puppies", toy)) == {0, 1}
    assert set(lexical_matches("poodle", toy)) == {0}
    assert set(lexical_matches("a puppy", TOY)) == set()
    assert names("puppy") == names("dog")
    assert {"sports car", "convertible", "cab"} <= names("sedan")
    assert {"impala", "gazelle", "ibex"} <= names("deer")  # ImageNet has no deer: its kin
    assert names("woman") == set()  # people are never a hypernym target
