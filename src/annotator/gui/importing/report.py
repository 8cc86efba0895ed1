"""What an import did, in words: a headline for the status bar and a dialog listing what did not match
(images not in the project, classes created, lines skipped)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from annotator.core.annotation_merge import MergeReport
from annotator.core.wording import counted

SHOWN = 8  # names listed in the dialog's text; all of them are in its details


@dataclass(frozen=True)
class ImportSummary:
    path: Path
    format: str
    report: MergeReport
    problems: tuple[str, ...] = ()
    unplaced: tuple[str, ...] = ()  # label files that found no image (YOLO)

    @property
    def not_in_project(self) -> tuple[str, ...]:
        """Images (or label files) of the file that are not in the project, each with why."""
        return tuple(f"{u.file_name}: {u.reason}" for u in self.report.unmatched) + tuple(
            f"{name}: no image of this name in the project" for name in self.unplaced
        )

    @property
    def headline(self) -> str:
        report, name = self.report, self.path.name
        if not report.instances:
            return f"Nothing imported from {name} ({self.format})"
        predictions = f", {report.predictions} of them predictions to review" if report.predictions else ""
        return (
            f"Imported {counted(report.instances, 'instance')} on {counted(report.images, 'image')} "
            f"from {name} "
            f"({self.format}){predictions}"
        )

    def lines(self) -> list[str]:
        """The dialog's text below the headline: what did not match, in short."""
        out = []
        missing = self.not_in_project
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            out.append(f"{counted(len(missing), 'image')} of the file {verb} not in the project:")
            out += [f"  {line}" for line in missing[:SHOWN]] + (["  …"] if len(missing) > SHOWN else [])
        created = self.report.created_classes
        if created:
            out.append(f"Classes created ({len(created)}): {', '.join(created)}")
        if self.problems:
            out.append(f"{counted(len(self.problems), 'note')} on reading the file (see Show Details)")
        if self.report.instances:
            out.append("One step: Edit ▸ Undo takes the whole import back.")
        return out

    def details(self) -> str:
        sections = [
            ("Not in the project", self.not_in_project),
            ("Classes created", self.report.created_classes),
            ("Notes on reading the file", self.problems),
        ]
        return "\n\n".join(f"{title}:\n" + "\n".join(items) for title, items in sections if items)


def show_report(parent, summary: ImportSummary) -> QMessageBox:
    """The report as a window-modal message box that does not block (returned, for tests)."""
    icon = QMessageBox.Icon.Information if summary.report.instances else QMessageBox.Icon.Warning
    box = QMessageBox(icon, "Import annotations", summary.headline, QMessageBox.StandardButton.Ok, parent)
    box.setInformativeText("\n".join(summary.lines()))
    details = summary.details()
    if details:
        box.setDetailedText(details)
    box.open()
    return box
