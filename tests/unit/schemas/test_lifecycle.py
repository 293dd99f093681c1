from __future__ import annotations

import pytest

from schemas.lifecycle import TERMINAL, IllegalTransition, Status, transition


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (Status.QUEUED, Status.PROCESSING),
        (Status.QUEUED, Status.CANCELLED),
        (Status.PROCESSING, Status.SUCCEEDED),
        (Status.PROCESSING, Status.RETRYING),
        (Status.RETRYING, Status.PROCESSING),
        (Status.PROCESSING, Status.DEAD_LETTERED),
    ],
)
def test_the_request_life_allows(current: Status, new: Status) -> None:
    assert transition(current, new) is new


@pytest.mark.parametrize("terminal", [Status.SUCCEEDED, Status.CANCELLED])
@pytest.mark.parametrize("new", list(Status))
def test_a_finished_request_never_moves(terminal: Status, new: Status) -> None:
    with pytest.raises(IllegalTransition):
        transition(terminal, new)


@pytest.mark.parametrize("new", list(Status))
def test_a_dead_letter_moves_only_when_redriven(new: Status) -> None:
    if new in (Status.RETRYING, Status.QUEUED):
        assert transition(Status.DEAD_LETTERED, new) is new
    else:
        with pytest.raises(IllegalTransition):
            transition(Status.DEAD_LETTERED, new)


def test_nothing_terminal_can_start_running() -> None:
    for terminal in TERMINAL:
        with pytest.raises(IllegalTransition):
            transition(terminal, Status.PROCESSING)


def test_a_running_request_cannot_be_cancelled() -> None:
    with pytest.raises(IllegalTransition, match="processing to cancelled"):
        transition(Status.PROCESSING, Status.CANCELLED)


def test_terminal_states_are_exactly_the_contracts_three() -> None:
    assert {s.value for s in Status if s.terminal} == {"succeeded", "dead_lettered", "cancelled"}
