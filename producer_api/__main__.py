"""`python -m producer_api`: serve the API with uvicorn on HOST:PORT."""

from __future__ import annotations

import sys

import uvicorn

from producer_api.app import create_app
from producer_api.settings import ApiSettings
from userq.logs import configure_logging


def main() -> int:
    settings = ApiSettings()
    configure_logging(settings.log_level, settings.log_format, service="producer_api")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
