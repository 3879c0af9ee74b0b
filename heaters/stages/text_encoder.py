"""Sentence vectors from all-MiniLM-L6-v2 (int8 ONNX) and the ImageNet "label space" for search.

No image-text model ships offline, so text search goes through labels: `query_labels` resolves
a query to the ImageNet classes it names, through the WordNet tree of the classes
(`imagenet_hierarchy.json`) and the sentence encoder's similarity to each class name
(`heaters.domain.label_query`); a clip then scores by the probability its tags give those classes.
That finds objects and animals ("dog" finds any breed, "motorbike" finds "moped"), not actions,
colours or people. Pure: no database; only onnxruntime and numpy (the tokenizer is plain Python
WordPiece over `vocab.txt`, checked token-for-token against Hugging Face `tokenizers` at export).
"""

from __future__ import annotations

import json
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heaters.domain.label_query import DEFAULT_PARAMS, Hierarchy, LabelMatch, MatchParams, match
from heaters.stages.models import (
    EFFICIENTNET_LITE0,
    load_labels,
    load_session,
    resolve_model_file,
)
from heaters.stages.models import models_dir as default_models_dir

TEXT_MODEL_FILE = "minilm_l6_v2_int8.onnx"
VOCAB_FILE = "minilm_vocab.txt"
LABEL_VECTORS_FILE = "imagenet_label_text.npy"
HIERARCHY_FILE = "imagenet_hierarchy.json"
TEXT_DIM = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model

_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


@dataclass(frozen=True)
class WordPieceTokenizer:
    """BERT uncased tokenisation (BertNormalizer + BertPreTokenizer + WordPiece), as `tokenizers`
    does it for this model, in ~60 lines instead of a Rust wheel plus the Hugging Face hub client."""

    vocab: Mapping[str, int]
    max_tokens: int = MAX_TOKENS
    max_word_chars: int = 100

    @classmethod
    def from_vocab(cls, path: Path, max_tokens: int = MAX_TOKENS) -> WordPieceTokenizer:
        words = path.read_text(encoding="utf-8").split("\n")
        if words and words[-1] == "":
            words.pop()
        return cls({w: i for i, w in enumerate(words)}, max_tokens)

    def normalize(self, text: str) -> str:
        out: list[str] = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD:
                continue
            if ch in "\t\n\r":
                out.append(" ")
            elif unicodedata.category(ch).startswith("C"):
                continue  # control and format characters, as BertNormalizer's clean_text
            elif ch.isspace():
                out.append(" ")
            elif _is_cjk(cp):
                out.append(f" {ch} ")
            else:
                out.append(ch)
        text = unicodedata.normalize("NFD", "".join(out))
        # Accents off, then lower-case char by char (as Rust's char::to_lowercase: no final sigma).
        return "".join(ch.lower() for ch in text if unicodedata.category(ch) != "Mn")

    def words(self, text: str) -> list[str]:
        """Split on whitespace, and every punctuation mark is a word of its own."""
        words: list[str] = []
        for chunk in self.normalize(text).split():
            current = ""
            for ch in chunk:
                if _is_punct(ch):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(ch)
                else:
                    current += ch
            if current:
                words.append(current)
        return words

    def wordpieces(self, word: str) -> list[str]:
        """Greedy longest-match-first; a word with any unmatched rest is one [UNK]."""
        if len(word) > self.max_word_chars:
            return ["[UNK]"]
        pieces: list[str] = []
        start = 0
        while start < len(word):
            end = len(word)
            piece = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    piece = sub
                    break
                end -= 1
            if piece is None:
                return ["[UNK]"]
            pieces.append(piece)
            start = end
        return pieces

    def encode(self, text: str) -> list[int]:
        """Token ids with [CLS] and [SEP], truncated to `max_tokens`."""
        unk = self.vocab["[UNK]"]
        ids = [self.vocab.get(p, unk) for w in self.words(text) for p in self.wordpieces(w)]
        ids = ids[: self.max_tokens - 2]
        return [self.vocab["[CLS]"], *ids, self.vocab["[SEP]"]]

    def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input_ids, attention_mask, token_type_ids), int64, right-padded to the longest."""
        encoded = [self.encode(t) for t in texts]
        width = max((len(e) for e in encoded), default=2)
        ids = np.full((len(encoded), width), self.vocab["[PAD]"], dtype=np.int64)
        mask = np.zeros((len(encoded), width), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = e
            mask[row, : len(e)] = 1
        return ids, mask, np.zeros_like(ids)


_lock = threading.Lock()
_tokenizers: dict[Path, WordPieceTokenizer] = {}
_label_vectors: dict[Path, np.ndarray] = {}


def _tokenizer(directory: Path | None) -> WordPieceTokenizer:
    path = resolve_model_file(VOCAB_FILE, directory)
    with _lock:
        if path not in _tokenizers:
            _tokenizers[path] = WordPieceTokenizer.from_vocab(path)
        return _tokenizers[path]


def encode(texts: Sequence[str], models_dir: Path | None = None) -> np.ndarray:
    """(N, 384) float32 L2-normalised sentence vectors; cosine similarity is a dot product.

    One text per model call, on purpose: dynamic int8 quantisation scales activations by the
    whole input tensor, so in a padded batch a text's vector would depend on its neighbours
    (cosine ~0.99). Alone, a text always gives the same vector (~2 ms each)."""
    if isinstance(texts, str):
        raise TypeError("encode() takes a sequence of texts, not one string")
    tok = _tokenizer(models_dir)
    sess = load_session(resolve_model_file(TEXT_MODEL_FILE, models_dir))
    out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        ids, mask, types = tok.encode_batch([text])
        (vec,) = sess.run(
            ["sentence_embedding"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
        )
        out[row] = vec[0]
    # The graph already normalises; do it again so int8 rounding never leaves |v| != 1.
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


def label_vectors(models_dir: Path | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """The ImageNet labels and their sentence vectors (1000 x 384), from the precomputed file
    when it is there and fits, else encoded once per process (~2 s)."""
    labels = load_labels(EFFICIENTNET_LITE0, models_dir)
    assert labels is not None
    directory = (models_dir or default_models_dir()).resolve()
    with _lock:
        cached = _label_vectors.get(directory)
    if cached is None:
        path = directory / LABEL_VECTORS_FILE
        cached = np.load(path) if path.is_file() else None
        if cached is None or cached.shape != (len(labels), TEXT_DIM):
            cached = encode(list(labels), models_dir=models_dir)
        cached = cached.astype(np.float32, copy=False)
        with _lock:
            _label_vectors[directory] = cached
    return labels, cached


def similarity_vector(query: str, models_dir: Path | None = None) -> np.ndarray:
    """Cosine similarity of a query to each ImageNet class name, in class order (1000,)."""
    if not query.strip():
        raise ValueError("empty query")
    _labels, vectors = label_vectors(models_dir)
    return vectors @ encode([query], models_dir=models_dir)[0]


def label_similarities(query: str, models_dir: Path | None = None) -> dict[str, float]:
    """Cosine similarity of a query to every ImageNet label (label -> similarity)."""
    labels, _vectors = label_vectors(models_dir)
    sims = similarity_vector(query, models_dir)
    out: dict[str, float] = {}
    for label, s in zip(labels, sims.tolist(), strict=True):
        if s > out.get(label, -2.0):
            out[label] = s
    return out


_hierarchies: dict[Path, Hierarchy] = {}


def hierarchy(models_dir: Path | None = None) -> Hierarchy:
    """The WordNet tree of the 1000 classes (`imagenet_hierarchy.json`), read once per process."""
    path = resolve_model_file(HIERARCHY_FILE, models_dir)
    with _lock:
        cached = _hierarchies.get(path)
    if cached is None:
        cached = Hierarchy.from_json(json.loads(path.read_text(encoding="utf-8")))
        with _lock:
            _hierarchies[path] = cached
    return cached


def query_labels(
    query: str, models_dir: Path | None = None, params: MatchParams = DEFAULT_PARAMS
) -> tuple[LabelMatch, dict[str, float]]:
    """The classes a query names and their weights by label name (what the store scores by)."""
    labels = load_labels(EFFICIENTNET_LITE0, models_dir)
    assert labels is not None
    sims = similarity_vector(query, models_dir).tolist()
    found = match(query, hierarchy(models_dir), sims, params, labels)
    return found, found.by_name(labels)


def score_tags(tags: Sequence[tuple[str, float]], similarities: Mapping[str, float]) -> float:
    """The old text-search score, kept as the baseline of `benchmarks/search_eval.py`: sum over
    a clip's tags of probability x max(0, similarity). Any confident tag a little similar to the
    query adds up, which is why a confident unrelated clip could top many queries."""
    return float(sum(p * max(0.0, similarities.get(label, 0.0)) for label, p in tags))
