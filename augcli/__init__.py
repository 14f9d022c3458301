"""augcli: config-driven, reproducible, parallel offline dataset augmentation.

The library is the product; the CLI translates. Imports stay light so ``augcli --help`` is fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augcli.version import __version__

__all__ = ["__version__", "load_config", "run"]

if TYPE_CHECKING:
    from augcli.config import Config
    from augcli.job import RunResult


def load_config(source: Any, overrides: dict | None = None, base_dir: Any = None) -> Config:
    """Read and validate a config (a YAML path or a mapping); see augcli.modalities.registry.load_config."""
    from augcli.modalities.registry import load_config as _load

    return _load(source, overrides, base_dir)


def run(config: Any, **kwargs: Any) -> RunResult:
    """Run a config (a path, a mapping or a Config); see augcli.job.run."""
    from augcli.job import run as _run

    return _run(config, **kwargs)
