"""SKYNET for Python: plan, judge, approve, queue and run intents with the
Rust engine.

The engine (policy, approval binding, the job state machine, the ledger)
is the Rust core; this package is a thin, typed layer over it.

>>> import skynet, tempfile
>>> sk = skynet.Skynet(home=tempfile.mkdtemp(), default_provider="mock")
>>> plan = sk.plan("read README.md, then write 'hi' to notes.txt")
>>> [(s.risk, s.argv[0]) for s in plan.steps]
[('READ_ONLY', 'cat'), ('WRITE', 'tee')]
>>> job = sk.submit("write 'hi' to notes.txt")
>>> job.status
'planned'
>>> sk.approve(job.id, job.plan_hash).status
'queued'
>>> sk.wait(job.id, timeout=30).status
'succeeded'
>>> sk.close()

Write your own provider or planner by subclassing :class:`Provider` or
:class:`Planner` and passing an instance to :class:`Skynet`.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Iterable, Iterator, Union

from . import errors
from ._skynet import (
    Artifact,
    AsyncInitiative,
    AsyncMemories,
    AsyncSchedules,
    AsyncSkynet,
    AsyncTriggers,
    AsyncWebhooks,
    Command,
    Decision,
    Event,
    EventLogPage,
    Job,
    LogLine,
    Initiative,
    Memories,
    MemoryHit,
    MemoryRecord,
    Plan,
    PlanRequest,
    Schedules,
    Skynet,
    Step,
    StepContext,
    Subscription,
    SystemEvent,
    Triggers,
    Webhooks,
    __version__,
)
from .errors import (
    ApprovalRequired,
    Cancelled,
    Conflict,
    IdempotencyConflict,
    InvalidInput,
    JobNotFound,
    LeaseLost,
    NotPermitted,
    PlanningError,
    PolicyForbidden,
    ProviderError,
    ScheduleNotFound,
    TriggerNotFound,
    SkynetError,
    StaleApproval,
    StoreError,
    Timeout,
    WebhookNotFound,
)

#: What ``Provider.execute`` may yield: a stdout line, or ``(stream, text)``
#: with stream ``"stdout"`` or ``"stderr"``.
OutputItem = Union[str, "tuple[str, str]"]


class Provider:
    """Base class for execution providers written in Python.

    Override :meth:`execute` to run ``command.argv`` somewhere and yield its
    output lines; ``return`` the exit code at the end (default 0). Set
    ``name`` to the name jobs use (``submit(..., provider=name)``; default:
    the class name in lower case). The engine calls it on a worker thread;
    if it raises, the step fails and the traceback is in the job log. Check
    ``ctx.cancelled`` in long loops: a cancelled or timed-out step is also
    stopped at the next yielded line.

    Set ``isolated = True`` only when the provider confines what a step can
    do (a container, a VM, or, as below, running nothing at all): READ_ONLY
    plans placed on it then run without approval. By default they wait for
    one, since SKYNET cannot tell what your code lets a step reach.

    >>> import skynet, tempfile
    >>> class Echo(skynet.Provider):
    ...     name = "echo"
    ...     isolated = True  # it runs nothing
    ...     def execute(self, command, ctx):
    ...         yield "echo: " + " ".join(command.argv)
    ...         return 0
    >>> sk = skynet.Skynet(home=tempfile.mkdtemp(), providers=[Echo()], default_provider="echo")
    >>> job = sk.run("list the files")
    >>> job.status, [line.text for line in sk.logs(job.id)]
    ('succeeded', ['echo: ls -la -- .'])
    >>> sk.close()
    """

    #: Registered name; None means the class name in lower case.
    name: str | None = None

    #: True when the provider confines steps, so READ_ONLY plans on it run
    #: without approval (default: they wait for one).
    isolated: bool = False

    def execute(self, command: Command, ctx: StepContext) -> Iterable[OutputItem] | int | None:
        """Run ``command``; yield output lines; return the exit code."""
        raise NotImplementedError(f"{type(self).__name__}.execute is not implemented")

    def health(self) -> bool | tuple[bool, str]:
        """Whether the provider can run steps now (and why)."""
        return True

    def _skynet_drive(
        self, command: Command, ctx: StepContext, emit: Callable[[str, str], bool]
    ) -> int:
        """Called by the engine: runs :meth:`execute`, forwards its lines,
        turns an exception into a failed step with its traceback."""
        try:
            result = self.execute(command, ctx)
            if result is None:
                return 0
            if isinstance(result, int):
                return result
            iterator: Iterator[Any] = iter(result)
            while True:
                try:
                    item = next(iterator)
                except StopIteration as stop:
                    return stop.value if isinstance(stop.value, int) else 0
                if isinstance(item, str):
                    stream, text = "stdout", item
                else:
                    stream, text = item
                if not emit(stream, str(text)):
                    close = getattr(iterator, "close", None)
                    if close is not None:
                        close()
                    return -1
        except Exception:
            for line in traceback.format_exc().rstrip().splitlines():
                emit("stderr", line)
            return 1


class Planner:
    """Base class for planners written in Python.

    Override :meth:`plan` to turn ``request.intent`` into a :class:`Plan`
    of :class:`Step` s (argv, never shell strings). The engine's policy
    judges every step afterwards: a planner can only raise a step's risk,
    never lower it, and a forbidden step refuses the plan. If it raises,
    ``submit``/``plan`` raise :class:`PlanningError` with the traceback.

    >>> import skynet, tempfile
    >>> class Dates(skynet.Planner):
    ...     def plan(self, request):
    ...         return skynet.Plan([skynet.Step("Show the date", ["date", "-u"])])
    >>> sk = skynet.Skynet(home=tempfile.mkdtemp(), planner=Dates(), worker=False)
    >>> plan = sk.plan("anything at all")
    >>> plan.planner, plan.risk, plan.steps[0].decision.rule
    ('python:Dates', 'READ_ONLY', 'system-info')
    >>> sk.close()
    """

    #: Recorded on plans as ``python:<name>``; None means the class name.
    name: str | None = None

    def plan(self, request: PlanRequest) -> Plan:
        """Plan ``request.intent`` (to run in ``request.root``)."""
        raise NotImplementedError(f"{type(self).__name__}.plan is not implemented")


__all__ = [
    "Artifact",
    "ApprovalRequired",
    "AsyncInitiative",
    "AsyncMemories",
    "AsyncSchedules",
    "AsyncSkynet",
    "AsyncTriggers",
    "AsyncWebhooks",
    "Cancelled",
    "Command",
    "Conflict",
    "IdempotencyConflict",
    "Decision",
    "Event",
    "EventLogPage",
    "InvalidInput",
    "Job",
    "JobNotFound",
    "LeaseLost",
    "NotPermitted",
    "LogLine",
    "Initiative",
    "Memories",
    "MemoryHit",
    "MemoryRecord",
    "Plan",
    "PlanRequest",
    "Planner",
    "PlanningError",
    "PolicyForbidden",
    "Provider",
    "ProviderError",
    "ScheduleNotFound",
    "TriggerNotFound",
    "Schedules",
    "Skynet",
    "SkynetError",
    "StaleApproval",
    "Step",
    "StepContext",
    "StoreError",
    "Subscription",
    "SystemEvent",
    "Timeout",
    "Triggers",
    "WebhookNotFound",
    "Webhooks",
    "__version__",
    "errors",
]
