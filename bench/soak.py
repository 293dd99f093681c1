"""`python -m bench.soak [--minutes 30] [--window-minutes 5]`: the soak of issue 15; `make soak` runs the full one.

Mixed load (echo, ledger, flaky, poison, slow: `harness.mix`) from many users at a fixed rate, open loop
(`bench.load`, one request per user in flight), on one private userq (`harness.stack.Stack`: its own
database and topics, real API and worker processes), with faults on a schedule (`bench.soak_plan`): a
worker SIGKILLed every 2 minutes (and replaced), the broker restarted once, PostgreSQL restarted once,
one rebalance storm (workers joining and leaving one after another). The rate is `--rate`, or half the
maximum measured at the start on the same stack (echo, the same users, workers running). Per window it
reports accepted/s and end-to-end p50/p99 (from the rows), and from samples every few seconds the
consumer lag, the workers' and the API's resident memory, PostgreSQL connections to the stack's database
and the sockets the processes hold; then whether memory and latency stayed flat (last window within 20 %
of the second: a figure, not a failure) and the checker's line (`harness.checks`: lost, duplicated, order
violations). Exits 1 when the checker found a problem or a part of the run failed.

The soak restarts Kafka and PostgreSQL, so it takes them the way the tests do (`harness.services.provide`)
and needs native ones of its own: `main` moves infra/local's instance to private ports and state
(`PRIVATE`, each overridable from the environment) before it asks, and the instance it starts it stops.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench import load, probes, report, users
from bench.__main__ import machine
from bench.phases import API_ENV, ECHO, Progress
from bench.soak_plan import BROKER, KILL, POSTGRES, STORM, Fault, flat, schedule, window_of, windows
from harness.checks import Report, check
from harness.mix import Mix
from harness.processes import Process
from harness.services import Services, native_script, provide
from harness.stack import Stack
from producer_api.settings import ApiSettings
from runtime.logs import configure_logging

# infra/local's instance for the soak: never the shared one (9092 / 55432), which it would restart. A port
# moved alone moves that instance's state and controller port with it (infra/local/common.sh).
PRIVATE = {"USERQ_KAFKA_PORT": "29192", "USERQ_PG_PORT": "55491"}
TOKEN_TTL_S = 3600  # the longest access token the API issues: a run longer than this would see 401s


@dataclass(frozen=True)
class Config:
    minutes: float = 30.0
    window_minutes: float = 5.0
    rate: float | None = None  # requests/s; None: half the maximum measured at the start
    users: int = 200
    workers: int = 2
    partitions: int = 4
    kill_every_s: float = 120.0
    broker_down_s: float = 10.0
    postgres_down_s: float = 20.0
    storm_workers: int = 3  # the storm: this many workers join one after another, then leave one by one
    sleep_ms: int = 250  # the slow requests' demo.sleep
    max_requests: int = 3000  # demo.echo sent at the maximum to measure it
    sample_every_s: float = 5.0
    drain_timeout_s: float = 900.0
    seed: int = 1

    @property
    def duration_s(self) -> float:
        return self.minutes * 60

    @property
    def window_s(self) -> float:
        return self.window_minutes * 60


@dataclass
class Sample:
    at_s: float
    lag: int | None
    worker_rss_kib: int | None  # the largest of the live workers'
    api_rss_kib: int | None
    pg_connections: int | None  # to the stack's database, the sampler's own not counted
    sockets: int | None  # held by the API and the live workers together


@dataclass
class Struck:
    kind: str
    due_s: float
    at_s: float
    took_s: float
    error: str | None = None


class Workers:
    """The stack's live workers: the oldest one is the next to be killed."""

    def __init__(self, stack: Stack, count: int) -> None:
        self._stack = stack
        self.live: list[Process] = [stack.start_worker() for _ in range(count)]

    def kill_oldest(self) -> None:
        victim, *rest = self.live
        victim.kill()
        self.live = rest
        self.live = [*self.live, self._stack.start_worker()]

    def storm(self, count: int) -> None:
        """`count` workers join, one after another (each waits for its partitions), then leave one by one."""
        extra: list[Process] = []
        for _ in range(count):
            extra.append(self._stack.start_worker())
            self.live = [*self.live, extra[-1]]
        for worker in extra:
            self.live = [w for w in self.live if w is not worker]
            worker.stop()


class Sampler(probes.Periodic):
    """Every `every_s` until stopped: lag, memory, connections and sockets (None where a probe failed)."""

    def __init__(self, stack: Stack, workers: Workers, api: Process, started: float, every_s: float) -> None:
        super().__init__(every_s, "soak-sampler")
        self.samples: list[Sample] = []
        self._stack, self._workers, self._api, self._started = stack, workers, api, started

    def sample(self) -> None:
        workers = [w.pid for w in self._workers.live]
        rss = [_probe(partial(probes.rss_kib, pid)) for pid in workers]
        socks = [_probe(partial(probes.sockets, pid)) for pid in [self._api.pid, *workers]]
        self.samples.append(
            Sample(
                at_s=time.monotonic() - self._started,
                lag=_probe(lambda: probes.total_lag(self._stack)),
                worker_rss_kib=max((r for r in rss if r is not None), default=None),
                api_rss_kib=_probe(lambda: probes.rss_kib(self._api.pid)),
                pg_connections=_probe(lambda: _pg_connections(self._stack)),
                sockets=sum(s for s in socks if s is not None) if None not in socks else None,
            )
        )


class Injector:
    """Strikes the scheduled faults one after another in a thread; `join` waits for the one in hand."""

    def __init__(self, faults: list[Fault], actions: dict[str, Callable[[], None]], started: float) -> None:
        self.struck: list[Struck] = []
        self._faults, self._actions, self._started = faults, actions, started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-faults", daemon=True)

    def start(self) -> Injector:
        self._thread.start()
        return self

    def join(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        for fault in self._faults:
            if self._stop.wait(max(0.0, self._started + fault.at_s - time.monotonic())):
                return  # the load is over: what is still due is not struck
            began = time.monotonic()
            error = None
            try:
                self._actions[fault.kind]()
            except Exception:
                error = traceback.format_exc()
            self.struck.append(Struck(fault.kind, fault.at_s, began - self._started, time.monotonic() - began, error))


def run(services: Services, log_dir: Path, config: Config, progress: Progress | None = None) -> dict[str, Any]:
    """One soak on a stack of its own; its results (windows, flatness, faults, load, checker, errors)."""
    if not services.native:
        raise RuntimeError("the soak restarts Kafka and PostgreSQL: it needs the infra/local services (not given ones)")
    if config.duration_s > TOKEN_TTL_S - 600:
        raise ValueError(f"at most {(TOKEN_TTL_S - 600) // 60} minutes: the users' tokens last {TOKEN_TTL_S} s")
    say = progress or Progress()
    results: dict[str, Any] = {
        "run": {"mode": "soak", "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "logs": str(log_dir)},
        "config": asdict(config),
        "errors": {},
    }
    results["run"]["machine"] = machine(services)
    with Stack(services, log_dir, partitions=config.partitions) as stack:
        settings = ApiSettings(env="test", access_token_ttl_s=TOKEN_TTL_S)
        people = users.sign_in(stack.database_url, settings, users.create(stack.database_url, config.users, "soak"))
        url = stack.start_api(**API_ENV, ACCESS_TOKEN_TTL_S=str(TOKEN_TTL_S))
        api = stack.processes[-1]
        pool = Workers(stack, config.workers)
        answers: dict[str, list[load.Answer]] = {}

        rate = config.rate
        if rate is None:
            say.phase(f"the maximum: {config.max_requests} demo.echo from {config.users} users, workers running")
            most = load.run(load.Shot(url, "/v1/requests", people, config.max_requests, None, 64, ECHO, serial=True))
            _merge(answers, most.answers)
            measured = most.accepted / most.wall_s
            rate = round(measured / 2, 1)
            results["rate"] = {"how": "half the measured maximum", "maximum_per_s": round(measured, 1)}
        else:
            results["rate"] = {"how": "given"}
        results["rate"]["rate_per_s"] = rate

        count = int(rate * config.duration_s)
        n = windows(config.duration_s, config.window_s)
        say.phase(f"soak: {count} requests at {rate:g}/s for {config.minutes:g} min, {n} windows, faults on schedule")
        actions: dict[str, Callable[[], None]] = {
            KILL: pool.kill_oldest,
            BROKER: lambda: _restart("kafka.sh", config.broker_down_s),
            POSTGRES: lambda: _restart("postgres.sh", config.postgres_down_s),
            STORM: lambda: pool.storm(config.storm_workers),
        }
        mix = Mix(sleep_ms=config.sleep_ms, failures=True, seed=config.seed)
        shot = load.Shot(url, "/v1/requests", people, count, rate, 4 * config.users, ECHO, mix=mix, serial=True)
        started_at, started = datetime.now(UTC), time.monotonic()
        faults = Injector(schedule(config.duration_s, config.kill_every_s), actions, started)
        with Sampler(stack, pool, api, started, config.sample_every_s) as sampler:
            faults.start()
            try:
                soaked = load.run(shot, 1, say, "soak")
            finally:
                faults.join()
        _merge(answers, soaked.answers)
        results["load"] = {**load.summary(soaked, rate, shot.window, 1), "users": config.users}
        results["faults"] = [asdict(s) for s in faults.struck]
        for struck in faults.struck:
            if struck.error:
                results["errors"][f"{struck.kind}@{struck.due_s:g}s"] = struck.error

        say.phase("drain: every accepted request terminal")
        accepted = {user_id: [a.request_id for a in listed] for user_id, listed in answers.items()}
        try:
            stack.wait_terminal(sum(len(ids) for ids in accepted.values()), timeout=config.drain_timeout_s)
        except AssertionError as error:
            results["errors"]["drain"] = str(error)
        say.phase("the checker")
        checked = check(stack, accepted)
        results["checker"] = _checker(checked)
        results["windows"] = _windows(stack, config, started_at, sampler.samples, faults.struck)
        results["flat"] = _flatness(results["windows"])
    results["run"]["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def _restart(script: str, down_s: float) -> None:
    native_script(script, "stop")
    time.sleep(down_s)  # the outage's length
    native_script(script, "start")


def _probe(read: Callable[[], int]) -> int | None:
    try:
        return read()
    except Exception:  # the process is gone, the service is away: no figure for this sample
        return None


def _pg_connections(stack: Stack) -> int:
    with stack.db() as conn:
        row = conn.execute(
            "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def _merge(into: dict[str, list[load.Answer]], more: dict[str, list[load.Answer]]) -> None:
    for user_id, listed in more.items():
        into.setdefault(user_id, []).extend(listed)


def _checker(checked: Report) -> dict[str, Any]:
    return {**asdict(checked), "passed": not checked.problems}


def _windows(
    stack: Stack, config: Config, started_at: datetime, samples: list[Sample], struck: list[Struck]
) -> list[dict[str, Any]]:
    """Per window: accepted/s and end-to-end p50/p99 from the rows accepted in it; the samples' figures."""
    n, width = windows(config.duration_s, config.window_s), config.window_s
    with stack.db() as conn:
        rows = conn.execute(
            """select least(%(n)s - 1, floor(extract(epoch from accepted_at - %(t0)s) / %(w)s))::int,
                      count(*),
                      percentile_cont(0.5) within group (order by extract(epoch from completed_at - accepted_at)),
                      percentile_cont(0.99) within group (order by extract(epoch from completed_at - accepted_at))
                 from requests where accepted_at >= %(t0)s group by 1 order by 1""",
            {"n": n, "t0": started_at, "w": width},
        ).fetchall()
    by_window = {int(k): (int(c), p50, p99) for k, c, p50, p99 in rows}
    out = []
    for k in range(n):
        mine = [s for s in samples if window_of(s.at_s, width, n) == k]
        seconds = min(width, config.duration_s - k * width)
        accepted, p50, p99 = by_window.get(k, (0, None, None))
        out.append(
            {
                "window": k + 1,
                "from_min": round(k * width / 60, 2),
                "to_min": round((k * width + seconds) / 60, 2),
                "accepted": accepted,
                "accepted_per_s": round(accepted / seconds, 1),
                "e2e_p50_ms": None if p50 is None else round(float(p50) * 1000, 1),
                "e2e_p99_ms": None if p99 is None else round(float(p99) * 1000, 1),
                "lag_max": _most([s.lag for s in mine]),
                "lag_mean": _mean([s.lag for s in mine]),
                "worker_rss_mib": _mib(_most([s.worker_rss_kib for s in mine])),
                "api_rss_mib": _mib(_most([s.api_rss_kib for s in mine])),
                "pg_connections_max": _most([s.pg_connections for s in mine]),
                "sockets_max": _most([s.sockets for s in mine]),
                "samples": len(mine),
                "faults": [s.kind for s in struck if window_of(s.at_s, width, n) == k],
            }
        )
    return out


FLAT_FIGURES = ("e2e_p50_ms", "e2e_p99_ms", "worker_rss_mib", "api_rss_mib")


def _flatness(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure of `FLAT_FIGURES` in the second and the last window, their ratio, and whether it is flat."""
    if len(rows) < 3:
        return {"note": "fewer than 3 windows: nothing to compare"}
    second, last = rows[1], rows[-1]
    return {
        name: {
            "second": second[name],
            "last": last[name],
            "ratio": round(last[name] / second[name], 3) if second[name] and last[name] is not None else None,
            "flat": flat(second[name], last[name]),
        }
        for name in FLAT_FIGURES
    }


def _most(values: list[int | None]) -> int | None:
    return max((v for v in values if v is not None), default=None)


def _mean(values: list[int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.fmean(known), 1) if known else None


def _mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


_COLUMNS = [
    ("window", "window", 6),
    ("minutes", None, 9),
    ("accepted/s", "accepted_per_s", 11),
    ("e2e p50 ms", "e2e_p50_ms", 11),
    ("e2e p99 ms", "e2e_p99_ms", 11),
    ("lag max", "lag_max", 8),
    ("worker MiB", "worker_rss_mib", 11),
    ("API MiB", "api_rss_mib", 8),
    ("PG conns", "pg_connections_max", 9),
    ("sockets", "sockets_max", 8),
]


def table(results: dict[str, Any]) -> str:
    """The windows, flatness, faults and the checker's line, as aligned text."""
    run_, rate, figures = results.get("run", {}), results.get("rate", {}), results.get("load", {})
    config = results.get("config", {})
    lines = [
        f"userq soak {run_.get('started_at')}: {run_.get('machine', {}).get('summary', '')}",
        f"{config.get('minutes')} min, {config.get('users')} users, {config.get('workers')} workers,"
        f" {config.get('partitions')} partitions; rate {rate.get('rate_per_s')}/s ({rate.get('how')}"
        + (f", maximum {rate['maximum_per_s']}/s" if "maximum_per_s" in rate else "")
        + f"); sent {figures.get('sent')}, accepted {figures.get('accepted')}, refused {figures.get('refused')},"
        f" no answer {figures.get('errors')}",
        "",
        "  ".join(title.rjust(width) for title, _key, width in _COLUMNS) + "  faults",
    ]
    for row in results.get("windows", []):
        cells = []
        for _title, key, width in _COLUMNS:
            value = f"{row['from_min']:g}-{row['to_min']:g}" if key is None else row[key]
            shown_ = "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
            cells.append(shown_.rjust(width))
        kinds = row["faults"]
        shown = ", ".join(f"{kinds.count(kind)}x {kind}" for kind in dict.fromkeys(kinds))
        lines.append("  ".join(cells) + "  " + shown)
    flatness = results.get("flat", {})
    if "note" in flatness:
        lines += ["", f"flat: {flatness['note']}"]
    elif flatness:
        verdict = {True: "flat", False: "NOT FLAT", None: "not measured"}
        parts = [f"{name} x{row['ratio']} {verdict[row['flat']]}" for name, row in flatness.items()]
        lines += ["", "last window / second window (within 20 %): " + ", ".join(parts)]
    checker = results.get("checker")
    if checker:
        lines += [
            "",
            f"checker: lost {checker['lost']}, duplicated {checker['duplicated']}, order violations"
            f" {checker['order_violations']} (accepted {checker['accepted']}, terminal {checker['terminal']},"
            f" {checker['by_status']}): {'passed' if checker['passed'] else 'FAILED'}",
        ]
        lines += [f"  {problem}" for problem in checker["problems"][:10]]
    for part, error in results.get("errors", {}).items():
        lines.append(f"FAILED {part}: {error.strip().splitlines()[-1] if error.strip() else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    defaults = Config()
    parser.add_argument("--minutes", type=float, default=defaults.minutes, help="how long the load runs")
    parser.add_argument("--window-minutes", type=float, default=defaults.window_minutes, help="one report row each")
    parser.add_argument("--rate", type=float, help="requests/s (default: half the maximum measured at the start)")
    parser.add_argument("--users", type=int, default=defaults.users, help="distinct users sending")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="workers (one is killed each time)")
    parser.add_argument("--partitions", type=int, default=defaults.partitions, help="of the main topics")
    parser.add_argument("--kill-every-s", type=float, default=defaults.kill_every_s, help="a worker SIGKILLed")
    parser.add_argument("--results-dir", type=Path, default=report.RESULTS_DIR)
    args = parser.parse_args(argv)
    config = Config(
        minutes=args.minutes,
        window_minutes=args.window_minutes,
        rate=args.rate,
        users=args.users,
        workers=args.workers,
        partitions=args.partitions,
        kill_every_s=args.kill_every_s,
    )
    for name, value in PRIVATE.items():
        os.environ.setdefault(name, value)
    configure_logging("WARNING", "console")
    log_dir = Path(tempfile.mkdtemp(prefix="userq-soak-"))
    progress = Progress()
    progress.phase(
        f"Kafka 127.0.0.1:{os.environ['USERQ_KAFKA_PORT']}, PostgreSQL 127.0.0.1:{os.environ['USERQ_PG_PORT']}"
        f" (infra/local, started here when not running); process logs in {log_dir}"
    )
    with provide() as services:
        try:
            results = run(services, log_dir, config, progress)
        except Exception:
            results = {"run": {"mode": "soak"}, "config": asdict(config), "errors": {"run": traceback.format_exc()}}
    path = report.write(results, args.results_dir, latest="soak-latest.json")
    print(table(results))
    print(f"\nwritten to {path}")
    return 1 if results["errors"] or not results.get("checker", {}).get("passed") else 0


if __name__ == "__main__":
    sys.exit(main())
