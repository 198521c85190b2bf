"""Exceptions raised by SKYNET, one class per core error kind.

Every exception is a :class:`SkynetError` with a ``code`` (the same stable
string the HTTP API and CLI JSON use) and a message that says what to do.
Some carry details: ``PolicyForbidden.decision``, ``ApprovalRequired.job_id``
(and ``.job`` when raised by ``run``), ``StaleApproval.given``/``.actual``.

>>> from skynet.errors import JobNotFound, SkynetError
>>> issubclass(JobNotFound, SkynetError) and issubclass(JobNotFound, LookupError)
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import Decision, Job


class SkynetError(Exception):
    """Base class of every SKYNET error."""

    code = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if "code" in details:
            self.code = details.pop("code")
        for name, value in details.items():
            setattr(self, name, value)

    #: The job the error is about, when there is one.
    job_id: str | None = None


class InvalidInput(SkynetError, ValueError):
    """The input (or configuration) is unusable; nothing changed."""

    code = "invalid_input"


class PlanningError(SkynetError):
    """The planner could not turn the intent into a plan (a Python
    planner's traceback is in the message)."""

    code = "planning_failed"


class PolicyForbidden(SkynetError):
    """The policy forbids a step: it never runs, whoever approves.
    ``decision`` explains why."""

    code = "forbidden"
    decision: Decision


class ApprovalRequired(SkynetError):
    """The job waits for a human: approve its plan hash with
    ``Skynet.approve``. ``job`` is set when raised by ``run``."""

    code = "approval_required"
    #: The waiting job (set by ``run``; None from other calls).
    job: Job | None = None


class StaleApproval(SkynetError):
    """The approval named a plan hash (``given``) that is not the job's
    plan (``actual``)."""

    code = "stale_approval"
    given: str
    actual: str


class NotPermitted(SkynetError, PermissionError):
    """The caller may not do this to this job (separation of duties, the
    ``mock`` provider without ``admin``, a report on another's job)."""

    code = "not_permitted"


class JobNotFound(SkynetError, LookupError):
    """No job with this id."""

    code = "not_found"


class ScheduleNotFound(SkynetError, LookupError):
    """No schedule with this id."""

    code = "not_found"


class TriggerNotFound(SkynetError, LookupError):
    """No trigger with this id."""

    code = "not_found"


class WebhookNotFound(SkynetError, LookupError):
    """No webhook (or webhook delivery) with this id."""

    code = "not_found"


class Conflict(SkynetError):
    """The job cannot make this state change (e.g. approving a finished
    job), or a duplicate conflicts."""

    code = "conflict"


class IdempotencyConflict(Conflict):
    """The idempotency key was already used for a different request;
    ``job_id`` is the job the key's first request made. The same request
    again returns that job instead."""

    code = "conflict"


class LeaseLost(SkynetError):
    """A worker lost its lease on the job."""

    code = "lease_lost"


class ProviderError(SkynetError):
    """The execution provider itself failed (not the command)."""

    code = "provider_error"


class Timeout(SkynetError, TimeoutError):
    """A wait or a step ran out of time."""

    code = "timeout"


class Cancelled(SkynetError):
    """The job was cancelled."""

    code = "cancelled"


class StoreError(SkynetError):
    """The ledger (storage) or local I/O failed."""

    code = "internal"


__all__ = [
    "ApprovalRequired",
    "Cancelled",
    "Conflict",
    "IdempotencyConflict",
    "InvalidInput",
    "JobNotFound",
    "LeaseLost",
    "NotPermitted",
    "PlanningError",
    "PolicyForbidden",
    "ProviderError",
    "ScheduleNotFound",
    "TriggerNotFound",
    "SkynetError",
    "StaleApproval",
    "StoreError",
    "Timeout",
    "WebhookNotFound",
]
