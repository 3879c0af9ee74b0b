"""Registry of ONNX image models, where their files live, and cached onnxruntime sessions.

A model is data (a `ModelSpec`), not code: an operator with their own ONNX image model adds a spec
(see `model_spec_from_mapping`) and the embedding stage runs it unchanged. Vectors are stored under
the spec's `name`, so vectors of different models never mix.

Model files are found in, first, `$HEATERS_MODELS_DIR`, else the package data `heaters._models`
(the repository's `models/` folder, mapped into the wheel by pyproject's `package-dir`), else the
`models/` folder of the source tree next to the `heaters` package (a checkout on PYTHONPATH). A spec's `file` may also be
an absolute path. Only onnxruntime and numpy are needed at run time: no torch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from heaters.domain.results import StageError

if TYPE_CHECKING:  # onnxruntime itself is imported on first use (~40 ms a process start)
    import onnxruntime as ort

MODELS_DIR_ENV = "HEATERS_MODELS_DIR"
DEFAULT_MODEL = "efficientnet_lite0"


class ModelError(StageError):
    """A model is unknown, its file is missing, or its spec does not match the file."""


@dataclass(frozen=True)
class ModelSpec:
    """How to feed an ONNX image model and which outputs to read.

    Pixels are scaled as `(x - mean) / std` per channel on the 0..255 scale, after a centre square
    crop resized to `input_size`. `logits_output` and `labels_file` are optional: without them a
    model gives vectors but no tags.
    """

    name: str
    file: str  # relative to the models dir, or absolute
    dim: int
    input_size: int = 224
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)
    channel_order: Literal["RGB", "BGR"] = "RGB"
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    input_name: str | None = None  # None: the model's first input
    embedding_output: str = "embedding"
    logits_output: str | None = None
    labels_file: str | None = None  # one class name per line, in logit order


EFFICIENTNET_LITE0 = ModelSpec(
    name="efficientnet_lite0",
    file="efficientnet_lite0.onnx",
    dim=1280,
    input_size=224,
    mean=(127.0, 127.0, 127.0),
    std=(128.0, 128.0, 128.0),
    channel_order="RGB",
    layout="NCHW",
    input_name="input",
    embedding_output="embedding",
    logits_output="logits",
    labels_file="imagenet_labels.txt",
)

BUILTIN_MODELS: dict[str, ModelSpec] = {EFFICIENTNET_LITE0.name: EFFICIENTNET_LITE0}


def model_spec_from_mapping(name: str, values: Mapping[str, Any]) -> ModelSpec:
    """Build a spec from a config table (e.g. `[models.my_model]` in TOML), with clear errors."""
    known = {f.name for f in fields(ModelSpec)} - {"name"}
    unknown = set(values) - known
    if unknown:
        raise ModelError(f"model {name!r}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    missing = {"file", "dim"} - set(values)
    if missing:
        raise ModelError(f"model {name!r}: missing {sorted(missing)}")
    kw: dict[str, Any] = dict(values)
    for key in ("mean", "std"):
        if key in kw:
            v = kw[key]
            triple = (float(v),) * 3 if isinstance(v, int | float) else tuple(float(x) for x in v)
            if len(triple) != 3:
                raise ModelError(f"model {name!r}: {key} needs 1 or 3 numbers")
            kw[key] = triple
    if kw.get("channel_order", "RGB") not in ("RGB", "BGR"):
        raise ModelError(f"model {name!r}: channel_order must be RGB or BGR")
    if kw.get("layout", "NCHW") not in ("NCHW", "NHWC"):
        raise ModelError(f"model {name!r}: layout must be NCHW or NHWC")
    kw["dim"] = int(kw["dim"])
    kw["input_size"] = int(kw.get("input_size", 224))
    if kw["dim"] <= 0 or kw["input_size"] <= 0:
        raise ModelError(f"model {name!r}: dim and input_size must be positive")
    return ModelSpec(name=name, **kw)


def get_model(name: str = DEFAULT_MODEL, extra: Mapping[str, ModelSpec] | None = None) -> ModelSpec:
    """Look a model up among the built-ins and the operator's own (`extra` wins on a name clash)."""
    registry = {**BUILTIN_MODELS, **(extra or {})}
    try:
        return registry[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(registry))}") from None


MODELS_PACKAGE = "heaters._models"  # models/ as package data (pyproject: package-dir)


def models_dir() -> Path:
    """`$HEATERS_MODELS_DIR`, else the installed package data `heaters._models` (a wheel, pipx,
    an editable install), else the source tree's `models/` (a checkout on PYTHONPATH)."""
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return _packaged_models() or Path(__file__).resolve().parents[2] / "models"


@cache
def _packaged_models() -> Path | None:
    try:
        folder = resources.files(MODELS_PACKAGE)
    except ModuleNotFoundError:  # a checkout on PYTHONPATH: no such package
        return None
    if not isinstance(folder, Path) or not (folder / EFFICIENTNET_LITE0.file).is_file():
        return None  # not a plain folder (a zip import) or not the model files
    return folder


def resolve_model_file(file: str | Path, directory: Path | None = None) -> Path:
    """The absolute path of a model file; raises ModelError naming where it looked."""
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = (directory or models_dir()) / path
    if not path.is_file():
        raise ModelError(
            f"model file not found: {path} (set ${MODELS_DIR_ENV} to the folder holding it)"
        )
    return path


def cpu_threads() -> int:
    """Cores this process may use (affinity-aware: containers often show more than they give)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Threads = cores, spinning off: spinning halves throughput when ffmpeg shares the cores."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or cpu_threads()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


_session_lock = threading.Lock()
_sessions: dict[Path, ort.InferenceSession] = {}


def load_session(path: Path) -> ort.InferenceSession:
    """One InferenceSession per model file per process (creating one costs ~0.1-0.5 s);
    `run` on a session is thread-safe, so workers share it."""
    key = path.resolve()
    with _session_lock:
        sess = _sessions.get(key)
        if sess is None:
            import onnxruntime as ort

            try:
                sess = ort.InferenceSession(
                    str(key), sess_options=session_options(), providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own exception types
                raise ModelError(f"cannot load {key}: {str(exc).splitlines()[0]}") from exc
            _sessions[key] = sess
        return sess


def image_session(spec: ModelSpec, directory: Path | None = None) -> ort.InferenceSession:
    """The spec's session, checked once against the spec so a wrong config fails loudly."""
    sess = load_session(resolve_model_file(spec.file, directory))
    _check_spec(spec, sess)
    return sess


_checked_pairs: set[tuple[ModelSpec, int]] = set()


def _check_spec(spec: ModelSpec, sess: ort.InferenceSession) -> None:
    if (spec, id(sess)) in _checked_pairs:
        return
    inputs = [i.name for i in sess.get_inputs()]
    outputs = {o.name: o.shape for o in sess.get_outputs()}
    if spec.input_name is not None and spec.input_name not in inputs:
        raise ModelError(f"model {spec.name!r}: no input {spec.input_name!r}; has {inputs}")
    for out in (spec.embedding_output, spec.logits_output):
        if out is not None and out not in outputs:
            raise ModelError(f"model {spec.name!r}: no output {out!r}; has {sorted(outputs)}")
    per_image = outputs[spec.embedding_output][1:]  # (dim,) or e.g. (dim, 1, 1)
    if per_image and all(isinstance(d, int) for d in per_image):
        size = 1
        for d in per_image:
            size *= d
        if size != spec.dim:
            raise ModelError(
                f"model {spec.name!r}: embedding has {size} dims, spec says {spec.dim}"
            )
    _checked_pairs.add((spec, id(sess)))


def input_name(spec: ModelSpec, sess: ort.InferenceSession) -> str:
    return spec.input_name or sess.get_inputs()[0].name


@cache
def _read_labels(path: Path) -> tuple[str, ...]:
    return tuple(
        line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    )


def load_labels(spec: ModelSpec, directory: Path | None = None) -> tuple[str, ...] | None:
    """The class names of a model with logits, in logit order; None if it has none."""
    if spec.labels_file is None or spec.logits_output is None:
        return None
    return _read_labels(resolve_model_file(spec.labels_file, directory))
