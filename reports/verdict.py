"""The verdict of one run: one or two sentences in words, at the top of its report.

Built only from the run's data (`RunData`):

- `manifest.error` set: "The run did not start: <error>." comes first (the launch failed).
- No delivered `fault` event: "No fault was injected; <ok> of <n> requests succeeded." (with the
  reason when a `not_applicable` event or an undelivered fault says why; failures, if any,
  listed by kind).
- A delivered fault: "<failed> of <n> requests failed (<kind>=<count>, ...)" or "No request
  failed", then, for each instance hit by the first fault (the delivered fault events that share
  its `scheduled_offset_s`, or its exact `offset_s` when unscheduled, as `reports.summary` does),
  "<target> back after <s> s" or "<target> never came back". Back means the instance's first
  `ready`, `resume` or `heal` event after its fault (one marked `teardown` is the run
  ending, not a recovery); the seconds count from the first fault, so the longest equals the
  summary's Recovery Time. A fault aimed at a child process (its event's `scope` is `child`)
  names it: "engine child of decode_worker_0"; one on a link names the link: "link
  processor -> decode_worker_1".
- Requests that failed after a delivered fault (the summary's Time To First Failure has a
  value): "Client outage: <s> s from the fault until the clients were served again (the first
  failure <t> s after it)." from the summary's Client Outage, or, when no request succeeded
  after the last failure, "Client outage to the end: no request succeeded after the last
  failure (the first <t> s after the fault)." (Two decimals under a second, else one.) So the
  verdict names both recoveries: the processes' (back after) and the clients'.
- More than one fault moment: "<k> faults were delivered in all." is added.
- A `proof` event whose outcome is `no_effect`: "The fault on <target> had no effect: <what
  was seen>." for each, last, because the numbers before it say nothing of that fault.
- A `not_applicable` event whose outcome is `fewer targets` (a failure that asked for more
  processes than the deployment had): "Fewer targets than asked: <what>." for each, last.
- A `stall` event that is over (`faultsuite.stalls`): "Health said ok while <instance> served
  nothing for <s> s, with <n> requests held." for each, in either case.
"""

from faultsuite.events import Event, EventKind, FaultOutcome, TargetScope
from faultsuite.record_table import RecordTable
from reports.results import GENERATOR_LAG_NOTE_S
from reports.rundata import RunData
from reports.summary import back_at, delivered_faults, error_counts, fault_moment, faulted_together

__all__ = ["verdict"]


def _breakdown(records: RecordTable) -> str:
    return ", ".join(f"{kind}={count}" for kind, count in error_counts(records))


def _target(fault: Event) -> str:
    """The instance, "<child> child of <instance>" for a fault aimed at a child process, or
    "link <caller> -> <instance>" for one on a link."""
    if fault.scope == TargetScope.CHILD:
        return f"{fault.child} child of {fault.instance}"
    if fault.scope == TargetScope.LINK:
        return f"link {fault.link_from} -> {fault.instance}"
    return fault.instance


def _recovery_clauses(first: Event, events: list[Event]) -> list[str]:
    clauses: dict[str, str] = {}
    for hit in faulted_together(first, events):
        target = _target(hit)
        if target not in clauses:
            back = back_at(hit, events)
            clauses[target] = f"{target} never came back" if back is None else f"{target} back after {back - first.offset_s:.1f} s"
    return list(clauses.values())


def _no_fault_reason(events: list[Event]) -> str:
    for e in events:
        if e.kind == EventKind.NOT_APPLICABLE:
            return f"No fault was injected ({e.detail or e.outcome or 'not applicable'})"
    for e in events:
        if e.kind == EventKind.FAULT and e.outcome != FaultOutcome.DELIVERED:
            return f"No fault was delivered ({e.outcome or 'not delivered'})"
    return "No fault was injected"


def verdict(data: RunData) -> str:
    """The run's verdict in words (see the module docstring for every case)."""
    records, events = data.records, data.events
    requests, failed = len(records), int((~records.ok).sum())
    sentences: list[str] = []
    if data.manifest.error:
        sentences.append(f"The run did not start: {data.manifest.error.rstrip('.')}.")
    if data.manifest.interrupted:
        sentences.append(f"The run was interrupted by {data.manifest.interrupted}: its numbers cover only the part that ran.")
    if data.manifest.records_lost:
        sentences.append(f"Its {data.manifest.records_lost.rstrip('.')}.")
    lag = data.manifest.generator_lag_s
    if lag is not None and lag > GENERATOR_LAG_NOTE_S:
        sentences.append(f"The load generator fell behind its schedule by up to {lag:.3f} s: the offered rate was not met.")

    faults = delivered_faults(events)
    if not faults:
        if data.manifest.error and not requests:
            return sentences[0]
        if not requests:
            outcome = "no request was made"
        else:
            outcome = f"{requests - failed} of {requests} requests succeeded"
            if failed:
                outcome += f" ({_breakdown(records)} failed)"
        sentences.append(f"{_no_fault_reason(events)}; {outcome}.")
        return " ".join(sentences + _stall_sentences(events))

    if not requests:
        said = "No request was made"
    elif failed:
        said = f"{failed} of {requests} requests failed ({_breakdown(records)})"
    else:
        said = "No request failed"
    sentences.append("; ".join([said, ", ".join(_recovery_clauses(faults[0], events))]) + ".")
    sentences += _client_outage_sentence(data)
    moments = len({fault_moment(e) for e in faults})
    if moments > 1:
        sentences.append(f"{moments} faults were delivered in all.")
    sentences += _no_effect_sentences(events)
    sentences += [f"Fewer targets than asked: {_without_failure(e.detail)}." for e in events if e.outcome == FaultOutcome.FEWER_TARGETS]
    return " ".join(sentences + _stall_sentences(events))


def _seconds(value: float) -> str:
    """"3.6 s", or "0.02 s" under a second, where one decimal would read as nothing."""
    return f"{value:.2f} s" if value < 1 else f"{value:.1f} s"


def _client_outage_sentence(data: RunData) -> list[str]:
    first, outage = data.summary.time_to_first_failure_s, data.summary.client_outage_s
    if first is None:
        return []
    if outage is None:
        return [f"Client outage to the end: no request succeeded after the last failure (the first {_seconds(first)} after the fault)."]
    return [f"Client outage: {_seconds(outage)} from the fault until the clients were served again (the first failure {_seconds(first)} after it)."]


def _without_failure(detail: str) -> str:
    """`failure X: what` as `what`: the verdict names the failure already."""
    return detail.split(": ", 1)[1] if detail.startswith("failure ") and ": " in detail else detail


def _stall_sentences(events: list[Event]) -> list[str]:
    return [
        f"Health said ok while {e.instance} served nothing {e.detail}."
        for e in events
        if e.kind == EventKind.STALL and e.outcome == "over"
    ]


def _no_effect_sentences(events: list[Event]) -> list[str]:
    return [
        f"The fault on {_target(e)} had no effect: {e.detail.rstrip('.')}."
        for e in events
        if e.kind == EventKind.PROOF and e.outcome == FaultOutcome.NO_EFFECT
    ]
