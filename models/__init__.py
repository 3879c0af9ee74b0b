"""heaters' model files as package data: installed as `heaters._models` (pyproject
`package-dir`), found by `heaters.stages.models.models_dir()` through importlib.resources."""
