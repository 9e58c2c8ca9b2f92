"""The ASGI application for process managers: `uvicorn mannerly.asgi:app --workers 4`.

Each process builds its own runtime from the `MANNERLY_*` environment. It does not migrate:
run `mannerly db upgrade` once before starting the processes (see docs/deploy.md).
Whether each process also runs a dispatcher follows MANNERLY_RUN_WORKER_IN_PROCESS.
"""

from __future__ import annotations

from mannerly.app import create_app
from mannerly.config import Settings
from mannerly.kit.process import tune_garbage_collection
from mannerly.observability import configure_logging
from mannerly.runtime import Runtime

settings = Settings()
configure_logging(settings.log_level, settings.log_format)
runtime = Runtime.create(settings)
app = create_app(runtime, start_worker=settings.run_worker_in_process)
tune_garbage_collection()
