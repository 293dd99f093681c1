"""The shipped Grafana provisioning and dashboards: consistent with each other and with the compose stack."""

from __future__ import annotations

import re

from tests.support.references import DASHBOARDS, GRAFANA, dashboard_queries, dashboards, load_yaml, panels

EXPECTED = {"userq-overview", "userq-partitions", "userq-failures", "userq-api"}


def _datasource() -> dict[str, str]:
    provisioned = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert len(provisioned) == 1
    source: dict[str, str] = provisioned[0]
    return source


def test_the_datasource_is_the_compose_prometheus_and_the_provider_reads_the_mounted_dashboards() -> None:
    source = _datasource()
    assert (source["type"], source["url"], source["uid"]) == ("prometheus", "http://prometheus:9090", "prometheus")
    providers = load_yaml(GRAFANA / "provisioning" / "dashboards" / "userq.yml")["providers"]
    assert [(p["type"], p["options"]["path"]) for p in providers] == [("file", "/var/lib/grafana/dashboards")]


def test_the_four_dashboards_exist_with_unique_uids_and_their_file_names() -> None:
    boards = dashboards()
    assert {board["uid"] for board in boards} == EXPECTED
    assert {path.stem for path in DASHBOARDS} == EXPECTED
    assert len({board["title"] for board in boards}) == len(boards)


def test_every_panel_queries_the_provisioned_datasource_and_has_a_place_of_its_own() -> None:
    uid = _datasource()["uid"]
    for board in dashboards():
        ids = [panel["id"] for panel in panels(board)]
        assert len(ids) == len(set(ids)), f"{board['uid']}: duplicate panel ids"
        for panel in panels(board):
            if panel["type"] == "row":
                continue
            assert panel["targets"], f"{board['uid']}: {panel['title']} has no query"
            for target in [panel, *panel["targets"]]:
                assert target["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
            position = panel["gridPos"]
            assert position["x"] + position["w"] <= 24, panel["title"]
        assert dashboard_queries(board)


def test_rate_windows_follow_the_scrape_interval() -> None:
    """`rate()` over a fixed window shorter than four scrapes shows gaps; dashboards use $__rate_interval
    (or a window of minutes)."""
    for board in dashboards():
        for query in dashboard_queries(board):
            for window in re.findall(r"\[([^\]]+)\]", query):
                assert window == "$__rate_interval" or window.endswith(("m", "h")), f"{board['uid']}: {query}"
