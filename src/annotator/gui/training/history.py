"""The models the open document has trained: kept in its project file (`ProjectStore.model_rounds`), or
in memory for a document without one (tests, a dataset made in memory)."""

from __future__ import annotations

from pathlib import Path

from annotator.core.model_rounds import ModelRound, last_round
from annotator.core.session import Document
from annotator.io.model_folder import delete_round_files, resolve_recorded
from annotator.io.project import Project


class ModelHistory:
    def __init__(self) -> None:
        self._in_memory: dict[int, list[ModelRound]] = {}

    def rounds(self, document: Document | None) -> list[ModelRound]:
        if document is None:
            return []
        if isinstance(document, Project):
            return document.store.model_rounds()
        return list(self._in_memory.get(id(document), []))

    def add(self, document: Document, model_round: ModelRound) -> None:
        """Record a round, replacing an earlier record of the same number (the one kept while it ran);
        DatasetError when the project file cannot be written."""
        if isinstance(document, Project):
            document.store.add_model_round(model_round)
        else:
            rounds = self._in_memory.setdefault(id(document), [])
            rounds[:] = [r for r in rounds if r.number != model_round.number] + [model_round]

    def remove(self, document: Document, model_round: ModelRound) -> list[str]:
        """Forget a round and delete its files from the models folder; the files that could not be
        deleted. DatasetError when the project file cannot be written (then nothing is deleted)."""
        if isinstance(document, Project):
            document.store.remove_model_round(model_round.number)
        else:
            rounds = self._in_memory.get(id(document), [])
            rounds[:] = [r for r in rounds if r.number != model_round.number]
        return delete_round_files(Path(document.path), model_round.number)

    @staticmethod
    def model_path(document: Document, model_round: ModelRound) -> Path:
        return resolve_recorded(Path(document.path), model_round.path)

    def last_model(self, document: Document | None) -> tuple[ModelRound, Path] | None:
        """The last round whose model file is still there, and that file."""
        rounds = [r for r in self.rounds(document) if self.model_path(document, r).is_file()]
        last = last_round(rounds)
        return None if last is None else (last, self.model_path(document, last))
