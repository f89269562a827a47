"""Beat's scheduler (`beat_scheduler` in workers/celery.py): Celery's PersistentScheduler, quiet in a broker outage.

Celery's scheduler logs every due task it cannot send as "Message Error" with the stack and a three-exception
traceback, about 110 lines; with the housekeeping tasks due every 2 and 5 s a 9 s RabbitMQ outage made eight of
them. A task that cannot be sent for want of the broker is logged here as one warning at most every 30 s (with how
many were left out), naming BROKER_URL with its password hidden; any other error is Celery's as before. Nothing is
lost by not sending: the tasks are triggers that run again at their next time, and the database holds the work.
"""

from __future__ import annotations

import logging

from celery.beat import PersistentScheduler, SchedulingError

from workers.failures import Throttle, broker_error, broker_errors

log = logging.getLogger("celery.beat")


def broker_cause(error: BaseException) -> BaseException | None:
    """The broker error behind `error` (Celery wraps it in SchedulingError), or None when it is something else."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, broker_errors()):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


class Scheduler(PersistentScheduler):
    """PersistentScheduler (the `-s` schedule file) whose due tasks that cannot reach the broker are one line."""

    def __init__(self, *args, **kwargs) -> None:
        self.outage = Throttle(log)
        self.unsent = 0
        super().__init__(*args, **kwargs)

    def apply_entry(self, entry, producer=None) -> None:  # noqa: ANN001 - Celery's ScheduleEntry and Producer
        log.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except SchedulingError as e:
            cause = broker_cause(e)
            if cause is None:  # not the broker: Celery's own report, without its extra copy of the stack
                log.error("Message Error: %s", e, exc_info=True)
                return
            self.unsent += 1
            problem = broker_error(self.app.conf.broker_url or "", cause)
            self.outage.warning("beat: %s; due tasks are not sent until it is back (%s)", problem, entry.name)
            return
        if self.unsent:
            log.warning("beat: the broker is back; %d due tasks were not sent during the outage", self.unsent)
            self.unsent = 0
            self.outage.reset()
        log.debug("%s sent.", entry.task)
