"""docker-compose.yml, as Docker Compose itself validates and resolves it (`docker compose config`).

No engine runs here, so nothing is started: these are the properties the file promises, read from the
project Compose would run.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from harness.services import ROOT
from producer_api.settings import ApiSettings
from runtime.settings import CommonSettings
from stream_worker.settings import WorkerSettings
from tests.tooling.deploy.conftest import Compose

SERVICES = {"kafka", "postgres", "init", "api", "worker", "prometheus", "grafana", "kafka-ui"}
ONE_SHOT = {"init"}
BUILT = {"api": "userq-api:local", "worker": "userq-worker:local", "init": "userq-worker:local"}
# A release version: name:1.2.3 or name:v1.2.3, optionally with a variant (-bookworm).
PINNED = re.compile(r"^[a-z0-9][a-z0-9./_-]*:v?\d+\.\d+\.\d+(-[a-z0-9.]+)?$")
# PostgreSQL's releases are major.minor: 17.7 is one release (17 would float).
PINNED_POSTGRES = re.compile(r"^postgres:\d+\.\d+(-[a-z0-9.]+)?$")
# Host ports a person or a tool on this machine uses, all on 127.0.0.1.
PUBLISHED = {"api": {3000}, "grafana": {3001}, "kafka-ui": {8080}, "prometheus": {9090}, "kafka": {19092}}
PUBLISHED |= {"postgres": {15432}}
# Worker settings compose must not pass on: one WORKER_ID for every replica; a test-only fault switch.
NOT_PASSED_TO_WORKERS = {"WORKER_ID", "FAULT_KILL_AFTER_DB_COMMITS"}
NOT_PASSED_TO_THE_API = {"FAULT_KILL_AFTER_ACKS", "FAULT_STOP_IN_ROWS_TX"}
EVERY_ADDRESS = "0.0.0.0"  # noqa: S104 (inside a container: its own network namespace)


def names(settings: type[CommonSettings]) -> set[str]:
    return {name.upper() for name in settings.model_fields}


@pytest.fixture(scope="module")
def project(compose: Compose) -> dict[str, Any]:
    return compose.config()


@pytest.fixture(scope="module")
def services(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = project["services"]
    return found


def test_compose_accepts_the_file(compose: Compose) -> None:
    done = compose.run("config", "--quiet")
    assert done.returncode == 0, done.stderr
    listed = compose.run("config", "--services")
    assert set(listed.stdout.split()) == SERVICES


def test_compose_rejects_a_broken_file(compose: Compose, tmp_path: Any) -> None:
    """The validator is live: a service with an unknown key fails, as a typo in ours would."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  api:\n    image: x:1.0.0\n    helthcheck: {}\n")
    done = compose.run("-f", str(broken), "config", "--quiet")
    assert done.returncode != 0
    assert "helthcheck" in done.stderr


def test_every_image_is_pinned_to_a_release(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name in BUILT:
            assert service["image"] == BUILT[name] and "build" in service, name
        else:
            pattern = PINNED_POSTGRES if name == "postgres" else PINNED
            assert pattern.match(service["image"]), f"{name}: {service['image']} is not pinned to a release"
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["kafka-ui"]["image"].startswith("kafbat/kafka-ui:")
    assert services["api"]["build"]["dockerfile"] == "docker/api.Dockerfile"
    assert (
        services["worker"]["build"]["dockerfile"]
        == services["init"]["build"]["dockerfile"]
        == ("docker/worker.Dockerfile")
    )


def test_every_service_has_a_health_check_or_runs_once(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no" and service["healthcheck"].get("disable") is True, name
            continue
        check = service.get("healthcheck", {})
        assert not check.get("disable") and check.get("test", [])[:1] in (["CMD"], ["CMD-SHELL"]), name
        assert service["restart"] == "unless-stopped", name
    assert services["init"]["command"] == ["python", "-m", "userq", "setup"]
    assert services["api"]["healthcheck"]["test"][-2:] == ["PORT", "/readyz"]
    assert services["worker"]["healthcheck"]["test"][-2:] == ["METRICS_PORT", "/metrics"]


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, dependency in service.get("depends_on", {}).items():
            condition = dependency["condition"]
            if target in ONE_SHOT:
                assert condition == "service_completed_successfully", f"{name} -> {target}"
            else:
                assert condition == "service_healthy", f"{name} -> {target}: {condition}"
    for name in ("init", "api", "worker"):
        assert {"kafka", "postgres"} <= set(services[name]["depends_on"]), name
    for name in ("api", "worker"):
        assert "init" in services[name]["depends_on"], name


def published(services: dict[str, dict[str, Any]]) -> dict[str, set[tuple[str, int]]]:
    return {
        name: {(port.get("host_ip", ""), int(port["published"])) for port in service.get("ports", [])}
        for name, service in services.items()
        if service.get("ports")
    }


def test_ports_are_published_on_loopback_only(compose: Compose, services: dict[str, dict[str, Any]]) -> None:
    assert published(services) == {name: {("127.0.0.1", port) for port in ports} for name, ports in PUBLISHED.items()}
    # Only the API's address can be opened up; the consoles stay on this machine.
    opened = published(compose.config(env={"USERQ_API_ADDRESS": EVERY_ADDRESS})["services"])
    assert opened.pop("api") == {(EVERY_ADDRESS, 3000)}
    assert all(ip == "127.0.0.1" for ports in opened.values() for ip, _ in ports)


def test_workers_can_be_scaled(compose: Compose, services: dict[str, dict[str, Any]]) -> None:
    """`--scale worker=N` needs a service without a fixed name, host name or host port."""
    worker = services["worker"]
    assert {"container_name", "hostname", "ports"}.isdisjoint(worker), sorted(worker)
    assert worker["deploy"]["replicas"] == 2
    assert compose.config(env={"USERQ_WORKERS": "5"})["services"]["worker"]["deploy"]["replicas"] == 5
    assert all("container_name" not in service for service in services.values())


def test_services_listen_on_the_compose_network(services: dict[str, dict[str, Any]]) -> None:
    api, worker = services["api"]["environment"], services["worker"]["environment"]
    assert (api["HOST"], api["PORT"]) == (EVERY_ADDRESS, "3000")
    assert [port["target"] for port in services["api"]["ports"]] == [3000]
    assert (worker["METRICS_HOST"], worker["METRICS_PORT"]) == (EVERY_ADDRESS, "9101")
    for name in ("init", "api", "worker"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"] == "postgresql://userq:userq@postgres:5432/userq", name
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "INTERNAL://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert kafka["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["kafka-ui"]["environment"]["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == "kafka:9092"


def test_every_setting_reaches_its_service(services: dict[str, dict[str, Any]]) -> None:
    assert names(CommonSettings) <= set(services["init"]["environment"])
    assert names(ApiSettings) - NOT_PASSED_TO_THE_API <= set(services["api"]["environment"])
    assert set(services["api"]["environment"]).isdisjoint(NOT_PASSED_TO_THE_API)
    worker = set(services["worker"]["environment"])
    assert names(WorkerSettings) - NOT_PASSED_TO_WORKERS <= worker
    assert worker.isdisjoint(NOT_PASSED_TO_WORKERS)


def test_settings_pass_through_from_dotenv_and_shell(compose: Compose, services: dict[str, dict[str, Any]]) -> None:
    # Unset: not set in the container, so the settings class's default applies.
    assert services["init"]["environment"]["REQUEST_PARTITIONS"] is None
    assert services["api"]["environment"]["JWT_SECRET"] is None
    dotenv = "REQUEST_PARTITIONS=24\nJWT_SECRET=s3cret-s3cret-s3cret-s3cret-s3cret\nMAX_ATTEMPTS=7\n"
    given = compose.config(env_file=dotenv, env={"MAX_ATTEMPTS": "9"})["services"]
    assert given["init"]["environment"]["REQUEST_PARTITIONS"] == "24"
    assert given["worker"]["environment"]["REQUEST_PARTITIONS"] == "24"
    assert given["api"]["environment"]["JWT_SECRET"] == "s3cret-s3cret-s3cret-s3cret-s3cret"
    assert given["worker"]["environment"]["MAX_ATTEMPTS"] == "9", "the shell wins over .env"
    # The stack's own addresses are not taken from a .env written for `make dev`.
    local = "DATABASE_URL=postgresql://userq:userq@127.0.0.1:55432/userq\nKAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092\n"
    local += "HOST=127.0.0.1\nPORT=3100\nMETRICS_PORT=0\nWORKER_ID=worker-1\n"
    kept = compose.config(env_file=local)["services"]
    assert kept["api"]["environment"]["DATABASE_URL"].endswith("@postgres:5432/userq")
    assert kept["worker"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert (kept["api"]["environment"]["HOST"], kept["api"]["environment"]["PORT"]) == (EVERY_ADDRESS, "3000")
    assert kept["worker"]["environment"]["METRICS_PORT"] == "9101"
    assert "WORKER_ID" not in kept["worker"]["environment"]


def binds(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """target -> (source relative to the repository, read-only) of a service's bind mounts."""
    return {
        volume["target"]: (str(ROOT.joinpath(volume["source"]).relative_to(ROOT)), bool(volume.get("read_only")))
        for volume in service.get("volumes", [])
        if volume["type"] == "bind"
    }


def test_monitoring_configuration_is_mounted_read_only(services: dict[str, dict[str, Any]]) -> None:
    assert binds(services["prometheus"]) == {
        "/etc/prometheus/prometheus.yml": ("infra/prometheus/prometheus.yml", True),
        "/etc/prometheus/alerts.yml": ("infra/prometheus/alerts.yml", True),
    }
    assert binds(services["grafana"]) == {
        "/etc/grafana/provisioning": ("infra/grafana/provisioning", True),
        "/var/lib/grafana/dashboards": ("infra/grafana/dashboards", True),
    }
    for name in SERVICES - {"prometheus", "grafana"}:
        assert binds(services[name]) == {}, name


def test_mounted_monitoring_files_exist() -> None:
    """A missing bind source would make the engine create an empty directory in its place."""
    for path in ("infra/prometheus/prometheus.yml", "infra/prometheus/alerts.yml"):
        assert (ROOT / path).is_file(), path
    for path in ("infra/grafana/provisioning", "infra/grafana/dashboards"):
        assert (ROOT / path).is_dir(), path
    assert list((ROOT / "infra/grafana/dashboards").glob("*.json")), "no dashboard to show at start"


def test_grafana_opens_on_a_dashboard_that_exists(services: dict[str, dict[str, Any]]) -> None:
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    mounted = "/var/lib/grafana/dashboards/"
    assert home.startswith(mounted)
    assert (ROOT / "infra/grafana/dashboards" / home.removeprefix(mounted)).is_file(), home


def test_data_lives_in_named_volumes(project: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "kafka": ("kafka-data", "/var/lib/kafka/data"),
        "postgres": ("postgres-data", "/var/lib/postgresql/data"),
        "prometheus": ("prometheus-data", "/prometheus"),
        "grafana": ("grafana-data", "/var/lib/grafana"),
    }
    for name, (volume, target) in expected.items():
        mounted = {(v["source"], v["target"]) for v in services[name].get("volumes", []) if v["type"] == "volume"}
        assert mounted == {(volume, target)}, name
    assert set(project["volumes"]) == {volume for volume, _ in expected.values()}
