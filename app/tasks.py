"""The Celery tasks: thin wrappers, one per job of app/services (``jobs.run`` gives the job
its session and config). Every task is named, acknowledged only after it ran (acks_late)
and given back to the queue if its worker dies (reject_on_worker_lost); its hard time
limit stays below the broker's visibility timeout (config.py), so a running task is never
handed to a second worker. A lost database connection is retried with a back-off; any
other error, or the retries spent, is recorded by the job (a batch says 失败)."""
from __future__ import annotations

from app.errors import is_outage
from app.extensions import celery
from app.services import certificate, export_jobs, housekeeping, importer, jobs, statistics

RETRIES = 3


def _task(name: str, *, soft: int, hard: int):
    @celery.task(name=name, bind=True, acks_late=True, reject_on_worker_lost=True,
                 max_retries=RETRIES, soft_time_limit=soft, time_limit=hard)
    def task(self, *args):
        try:
            return jobs.run(name, *args)
        except Exception as exc:
            if is_outage(exc) and self.request.retries < RETRIES:
                raise self.retry(exc=exc, countdown=5 * 2 ** self.request.retries) from exc
            jobs.fail(name, exc, *args)
            raise

    return task


# a plan lists a round's experts; a part renders CERTIFICATE_BATCH_PART (50) certificates
plan_batch = _task(certificate.TASK_PLAN, soft=120, hard=180)
run_part = _task(certificate.TASK_PART, soft=240, hard=300)
import_experts = _task(importer.TASK_IMPORT, soft=780, hard=840)
cleanup = _task(housekeeping.TASK_CLEANUP, soft=120, hard=180)
# 导出任务: a big list export (EXPORT_MAX_ROWS rows at most) written to one file
build_export = _task(export_jobs.TASK_EXPORT, soft=780, hard=840)
# 首页 统计分析: the snapshot of every chart's counts (seconds at a million experts)
refresh_statistics = _task(statistics.TASK_REFRESH, soft=240, hard=300)
