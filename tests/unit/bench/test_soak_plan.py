from __future__ import annotations

from bench.soak_plan import BROKER, KILL, POSTGRES, STORM, Fault, flat, schedule, window_of, windows


def test_the_30_minute_schedule_kills_every_2_minutes_and_restarts_each_service_once_mid_run() -> None:
    faults = schedule(30 * 60, 120)
    kills = [f.at_s for f in faults if f.kind == KILL]
    assert kills == [120.0 * n for n in range(1, 15)]
    assert [f for f in faults if f.kind != KILL] == [Fault(720.0, BROKER), Fault(990.0, POSTGRES), Fault(1260.0, STORM)]
    assert [f.at_s for f in faults] == sorted(f.at_s for f in faults)
    assert all(f.at_s < 25 * 60 for f in faults if f.kind != KILL), "the last 5-minute window has no one-off fault"


def test_a_short_schedule_keeps_every_kind() -> None:
    faults = schedule(180, 30)
    assert {f.kind for f in faults} == {KILL, BROKER, POSTGRES, STORM}
    assert len([f for f in faults if f.kind == KILL]) == 5
    assert all(0 < f.at_s < 180 for f in faults)


def test_windows_and_where_a_moment_falls() -> None:
    assert windows(30 * 60, 5 * 60) == 6
    assert windows(360, 120) == 3
    assert windows(370, 120) == 4
    assert windows(10, 120) == 1
    assert [window_of(t, 120, 3) for t in (0, 119.9, 120, 359, 360, 999, -1)] == [0, 0, 1, 2, 2, 2, 0]


def test_flat_is_the_last_window_within_20_percent_of_the_second() -> None:
    assert flat(100, 119) is True
    assert flat(100, 81) is True
    assert flat(100, 121) is False
    assert flat(100, 79) is False
    assert flat(None, 5) is None and flat(0, 5) is None
