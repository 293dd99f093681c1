"""infra/local's environment overrides: a second instance on other ports never shares the first one's state.

The soak (and any test that restarts services) runs Kafka and PostgreSQL of its own beside the shared
ones. Moving only the port must move the state too: two brokers on one data directory, or a status check
that finds the other cluster's PID, would stop or corrupt the shared services.
"""

from __future__ import annotations

import os
import subprocess

from harness.services import INFRA

_SHOWN = ("KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "KAFKA_STATE", "PG_PORT", "PG_STATE")


def _common(**env: str) -> dict[str, str]:
    """The values infra/local/common.sh settles on with `env` (and no other USERQ_ override)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("USERQ_")}
    script = f". {INFRA / 'common.sh'}; " + "; ".join(f'echo "{name}=${name}"' for name in _SHOWN)
    shown = subprocess.run(["bash", "-c", script], env={**clean, **env}, capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in shown.stdout.splitlines())


def test_the_defaults_are_the_shared_instance() -> None:
    found = _common(USERQ_CACHE="/c")
    assert (found["KAFKA_PORT"], found["KAFKA_CONTROLLER_PORT"], found["PG_PORT"]) == ("9092", "9093", "55432")
    assert found["KAFKA_STATE"] == "/c/kafka-state"


def test_every_override_is_taken() -> None:
    found = _common(
        USERQ_KAFKA_PORT="19092",
        USERQ_KAFKA_CONTROLLER_PORT="19093",
        USERQ_KAFKA_STATE="/s/kafka",
        USERQ_PG_PORT="55433",
        USERQ_PG_STATE="/s/pg",
    )
    assert found == {
        "KAFKA_PORT": "19092",
        "KAFKA_CONTROLLER_PORT": "19093",
        "KAFKA_STATE": "/s/kafka",
        "PG_PORT": "55433",
        "PG_STATE": "/s/pg",
    }


def test_a_port_moved_alone_moves_its_state_and_controller() -> None:
    shared, moved = (
        _common(USERQ_CACHE="/c"),
        _common(USERQ_CACHE="/c", USERQ_KAFKA_PORT="19092", USERQ_PG_PORT="55433"),
    )
    assert moved["KAFKA_STATE"] != shared["KAFKA_STATE"]
    assert moved["PG_STATE"] != shared["PG_STATE"]
    assert moved["KAFKA_CONTROLLER_PORT"] != shared["KAFKA_CONTROLLER_PORT"]
