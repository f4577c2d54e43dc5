"""ITIL-style priority from impact x urgency, and how it is combined with the model's priority.

The matrix turns what the requester told us (impact: how much is affected; urgency: how
time-critical it is for them) into a priority. Stated urgency is one input, not the answer: in the
default matrix an individual's "critical" is at most "high", and only department or organization
impact can reach "urgent", so customers who mark everything urgent do not jump the queue.

``combine_priority(model, matrix, priorities=..., threshold=t)`` decides between the model and
the matrix with this formula:

- both present: the MORE URGENT of the model's label and the matrix result wins (a tie goes to the
  model, whose confidence is then recorded), except that a model whose confidence is below ``t``
  does not count, and the matrix wins;
- only one present: it wins, whatever the model's confidence;
- neither: ``(None, "none")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

IMPACTS = ("individual", "team", "department", "organization")
URGENCIES = ("low", "medium", "high", "critical")
PRIORITIES = ("urgent", "high", "medium", "low")
MISSING_URGENCY = "medium"

# Rows are impacts, columns urgencies low -> critical.
_DEFAULT_CELLS: Mapping[str, tuple[str, str, str, str]] = {
    "individual": ("low", "low", "medium", "high"),
    "team": ("low", "medium", "high", "high"),
    "department": ("medium", "high", "high", "urgent"),
    "organization": ("medium", "high", "urgent", "urgent"),
}

Winner = Literal["model", "matrix", "none"]


class PriorityMatrix(BaseModel):
    """A complete impact x urgency table of priorities, validated against the known priorities.

    Pass ``context={"priorities": [...]}`` to ``model_validate`` when the team's priority names are
    not the default urgent/high/medium/low.
    """

    model_config = ConfigDict(extra="forbid")

    cells: dict[str, dict[str, str]]

    @field_validator("cells")
    @classmethod
    def _complete(
        cls, cells: dict[str, dict[str, str]], info: ValidationInfo
    ) -> dict[str, dict[str, str]]:
        priorities = tuple((info.context or {}).get("priorities", PRIORITIES))
        for impact, row in cells.items():
            if impact not in IMPACTS:
                raise ValueError(f"unknown impact {impact!r}; known: {', '.join(IMPACTS)}")
            for urgency, priority in row.items():
                if urgency not in URGENCIES:
                    raise ValueError(
                        f"{impact}: unknown urgency {urgency!r}; known: {', '.join(URGENCIES)}"
                    )
                if priority not in priorities:
                    raise ValueError(
                        f"{impact}.{urgency}: unknown priority {priority!r}; "
                        f"known: {', '.join(priorities)}"
                    )
        for impact in IMPACTS:
            if impact not in cells:
                raise ValueError(f"impact {impact!r} is missing")
            for urgency in URGENCIES:
                if urgency not in cells[impact]:
                    raise ValueError(f"{impact}.{urgency} is missing")
        return cells


def default_matrix() -> PriorityMatrix:
    """Return a fresh copy of the default matrix."""
    return PriorityMatrix(
        cells={
            impact: dict(zip(URGENCIES, row, strict=True)) for impact, row in _DEFAULT_CELLS.items()
        }
    )


def matrix_priority(matrix: PriorityMatrix, impact: str | None, urgency: str | None) -> str | None:
    """Look up impact x urgency: None without a known impact; a missing urgency counts as medium."""
    if impact not in IMPACTS:
        return None
    if urgency not in URGENCIES:
        urgency = MISSING_URGENCY
    return matrix.cells[impact][urgency]


def combine_priority(
    model: tuple[str, float] | None,
    matrix: str | None,
    *,
    priorities: Sequence[str],
    threshold: float,
) -> tuple[str | None, Winner]:
    """Pick the model's (label, confidence) or the matrix result by the module's formula."""
    rank = {priority: index for index, priority in enumerate(priorities)}
    if model is not None and model[0] not in rank:
        raise ValueError(f"unknown model priority {model[0]!r}")
    if matrix is not None and matrix not in rank:
        raise ValueError(f"unknown matrix priority {matrix!r}")
    if model is None:
        return (matrix, "matrix") if matrix is not None else (None, "none")
    label, confidence = model
    if matrix is None:
        return label, "model"
    if confidence < threshold or rank[matrix] < rank[label]:
        return matrix, "matrix"
    return label, "model"
