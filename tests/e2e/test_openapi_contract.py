"""schemathesis against the real API (and a worker): every operation of `/openapi.json`, every check.

Run with `-rP` to see schemathesis' summary. Bounded and reproducible: a fixed number of test cases per
operation and phase, derandomized generation, a time limit on the whole run. Nothing is excluded:

- the user routes run as a registered user, `/v1/admin/…` as an admin;
- `POST /v1/auth/logout` runs with a session of its own: it ends that session at once, and would end
  everyone else's run with it;
- one check is widened for one operation, for one reason: a request whose `Idempotency-Key` was used
  before with another body is refused with 422, as the contract and the IETF Idempotency-Key draft say.
  Generated keys repeat, so the schema-valid request that gets this 422 is not a fault. The same body
  schema is checked strictly through `POST /v1/requests/batch`, which takes no key.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.stack import Stack, make_admin

MAX_EXAMPLES = 25  # test cases per operation and phase
TIME_LIMIT_S = 600
SHORT_STREAMS = {"STREAM_MAX_DURATION_S": "2", "STREAM_HEARTBEAT_S": "1"}  # a stream with nothing new ends soon

CONFIG = """
headers = {{ Authorization = "Bearer {user}" }}

[dictionaries.to_discard]
values = {to_discard}

[dictionaries.to_redrive]
values = {to_redrive}

[dictionaries.users]
values = ["{user_id}"]

[[operations]]
include-path = "/v1/admin/dead-letters/{{request_id}}/discard"
headers = {{ Authorization = "Bearer {admin}" }}
parameters = {{ "path.request_id" = {{ dictionary = "to_discard", probability = 0.5 }} }}

[[operations]]
include-path = "/v1/admin/dead-letters/{{request_id}}/redrive"
headers = {{ Authorization = "Bearer {admin}" }}
parameters = {{ "path.request_id" = {{ dictionary = "to_redrive", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/v1/admin/"
headers = {{ Authorization = "Bearer {admin}" }}
parameters = {{ "user_id" = {{ dictionary = "users", probability = 0.5 }} }}

[[operations]]
include-path = "/v1/auth/logout"
headers = {{ Authorization = "Bearer {leaving}" }}

[[operations]]
include-path = "/v1/requests"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""


def test_the_api_answers_as_its_openapi_document_says(stack: Stack, tmp_path: Path) -> None:
    api = stack.start_api(**SHORT_STREAMS)
    stack.start_worker()
    user, admin, leaving = stack.client(api), make_admin(stack, api), stack.client(api)
    dead = [user.submit("demo.poison", {})["request_id"] for _ in range(4)]  # for the admin routes to act on
    stack.wait_terminal(len(dead))
    config = tmp_path / "schemathesis.toml"
    ids = {"to_discard": json.dumps(dead[:2]), "to_redrive": json.dumps(dead[2:]), "user_id": user.user_id}
    config.write_text(CONFIG.format(user=user.token, admin=admin.token, leaving=leaving.token, **ids))
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{api}/openapi.json"),
        *("--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--generation-deterministic", "--seed", "1"),
        *("--request-timeout", "30", "--workers", "1", "--no-color"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIME_LIMIT_S, cwd=tmp_path)
    (tmp_path / "schemathesis.out").write_text(result.stdout + result.stderr)
    print(result.stdout[result.stdout.find("=== SUMMARY") :])
    assert result.returncode == 0, result.stdout[-30_000:] + result.stderr[-5_000:]
