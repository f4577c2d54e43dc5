import pytest
from pydantic import ValidationError

from triage.priority_matrix import (
    IMPACTS,
    PRIORITIES,
    URGENCIES,
    PriorityMatrix,
    combine_priority,
    default_matrix,
    matrix_priority,
)

RANK = {priority: index for index, priority in enumerate(PRIORITIES)}


@pytest.mark.parametrize(
    ("impact", "urgency", "expected"),
    [
        ("individual", "low", "low"),
        ("individual", "medium", "low"),
        ("individual", "high", "medium"),
        ("individual", "critical", "high"),
        ("team", "low", "low"),
        ("team", "medium", "medium"),
        ("team", "high", "high"),
        ("team", "critical", "high"),
        ("department", "low", "medium"),
        ("department", "medium", "high"),
        ("department", "high", "high"),
        ("department", "critical", "urgent"),
        ("organization", "low", "medium"),
        ("organization", "medium", "high"),
        ("organization", "high", "urgent"),
        ("organization", "critical", "urgent"),
    ],
)
def test_default_matrix(impact, urgency, expected):
    assert matrix_priority(default_matrix(), impact, urgency) == expected


def test_stated_urgency_alone_does_not_jump_the_queue():
    matrix = default_matrix()
    assert matrix_priority(matrix, "individual", "critical") == "high"
    for impact in ("individual", "team"):
        assert "urgent" not in {matrix_priority(matrix, impact, u) for u in URGENCIES}


def test_default_matrix_never_lowers_priority_for_more_impact_or_urgency():
    matrix = default_matrix()
    for i, impact in enumerate(IMPACTS):
        for j, urgency in enumerate(URGENCIES):
            here = RANK[matrix_priority(matrix, impact, urgency)]
            if i:
                assert here <= RANK[matrix_priority(matrix, IMPACTS[i - 1], urgency)]
            if j:
                assert here <= RANK[matrix_priority(matrix, impact, URGENCIES[j - 1])]


@pytest.mark.parametrize(
    ("impact", "urgency", "expected"),
    [
        (None, "critical", None),
        ("everyone", "critical", None),
        ("team", None, "medium"),
        ("department", None, "high"),
        ("team", "asap", "medium"),
    ],
    ids=["no-impact", "unknown-impact", "no-urgency", "no-urgency-department", "unknown-urgency"],
)
def test_missing_inputs(impact, urgency, expected):
    assert matrix_priority(default_matrix(), impact, urgency) == expected


def _cells():
    return default_matrix().model_dump()["cells"]


def _without_row(cells):
    del cells["team"]
    return cells


def _without_cell(cells):
    del cells["department"]["critical"]
    return cells


def _unknown_priority(cells):
    cells["team"]["high"] = "p1"
    return cells


def _unknown_impact(cells):
    cells["galaxy"] = dict(cells["team"])
    return cells


def _unknown_urgency(cells):
    cells["team"]["yesterday"] = "urgent"
    return cells


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (_without_row, "impact 'team' is missing"),
        (_without_cell, "department.critical is missing"),
        (_unknown_priority, "unknown priority 'p1'"),
        (_unknown_impact, "unknown impact 'galaxy'"),
        (_unknown_urgency, "unknown urgency 'yesterday'"),
    ],
)
def test_invalid_matrix_is_refused(break_it, message):
    with pytest.raises(ValidationError, match=message):
        PriorityMatrix.model_validate({"cells": break_it(_cells())})


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError, match="Extra inputs"):
        PriorityMatrix.model_validate({"cells": _cells(), "rows": []})


def test_team_priority_names_are_passed_as_context():
    names = {"urgent": "p1", "high": "p2", "medium": "p3", "low": "p4"}
    cells = {i: {u: names[p] for u, p in row.items()} for i, row in _cells().items()}
    matrix = PriorityMatrix.model_validate(
        {"cells": cells}, context={"priorities": ["p1", "p2", "p3", "p4"]}
    )
    assert matrix_priority(matrix, "organization", "critical") == "p1"
    with pytest.raises(ValidationError, match="unknown priority 'p4'"):
        PriorityMatrix.model_validate({"cells": cells})


def test_matrix_survives_a_json_round_trip():
    matrix = default_matrix()
    assert PriorityMatrix.model_validate_json(matrix.model_dump_json()) == matrix


def test_default_matrix_is_a_fresh_copy():
    changed = default_matrix()
    changed.cells["team"]["low"] = "urgent"
    assert matrix_priority(default_matrix(), "team", "low") == "low"


@pytest.mark.parametrize(
    ("model", "matrix", "expected"),
    [
        (None, None, (None, "none")),
        (("low", 0.95), None, ("low", "model")),
        (("low", 0.10), None, ("low", "model")),  # alone, even an unsure model wins
        (None, "high", ("high", "matrix")),
        (("urgent", 0.90), "medium", ("urgent", "model")),  # the more urgent wins
        (("low", 0.90), "high", ("high", "matrix")),
        (("high", 0.90), "high", ("high", "model")),  # a tie goes to the model
        (("urgent", 0.30), "medium", ("medium", "matrix")),  # unsure model does not count
        (("urgent", 0.60), "low", ("urgent", "model")),  # exactly at the threshold counts
    ],
)
def test_combine_priority(model, matrix, expected):
    assert combine_priority(model, matrix, priorities=PRIORITIES, threshold=0.6) == expected


@pytest.mark.parametrize(("model", "matrix"), [(("p1", 0.9), "low"), (("low", 0.9), "p1")])
def test_combine_priority_refuses_unknown_labels(model, matrix):
    with pytest.raises(ValueError, match="unknown"):
        combine_priority(model, matrix, priorities=PRIORITIES, threshold=0.6)
