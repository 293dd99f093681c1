"""Container health check: exit 0 when GET http://127.0.0.1:$PORT_VARIABLE/PATH answers 2xx in time.

    python /usr/local/bin/userq-healthcheck PORT /healthz          (the API)
    python /usr/local/bin/userq-healthcheck METRICS_PORT /metrics  (a worker)

The port comes from the named environment variable, so a container started with another PORT is checked
where it listens. The slim images have neither curl nor wget: this needs only the standard library.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 3.0


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[2].startswith("/"):
        print("usage: userq-healthcheck PORT_VARIABLE /PATH", file=sys.stderr)
        return 2
    variable, path = argv[1], argv[2]
    port = os.environ.get(variable, "")
    if not port.isdigit() or not 0 < int(port) < 65536:
        print(f"unhealthy: {variable}={port!r} is not a port", file=sys.stderr)
        return 1
    url = f"http://127.0.0.1:{int(port)}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:  # refused, timed out, reset
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if not 200 <= status < 300:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
