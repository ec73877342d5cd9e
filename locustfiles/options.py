"""The suite's command-line options. Locust shows each in its web UI form as well."""

import argparse
import sys

from chaos.models import load_catalogue
from locustfiles.arrivals import ARRIVALS
from deployments.models import available_deployments
from faultsuite.errors import ConfigError
from faultsuite.manifest import DEFAULT_SLA_LATENCY_S

__all__ = ["CLI_ONLY", "FORM_HINTS", "HELP_GROUPS", "MAXIMA", "add_options", "dropdown", "option_defaults", "suite_help"]

#: The largest value of each numeric option (by destination): past it a run means nothing, or
#: cannot fit in memory. Every number is also finite; the least values are the scenario's.
MAXIMA: dict[str, float] = {
    "clients": 100_000,
    "ramp_up": 86_400,
    "requests_per_client": 10_000_000,
    "max_tokens": 1_000_000,
    "prompt_tokens": 1_000_000,
    "request_timeout": 86_400,
    "retry_delay": 3_600,
    "sla_latency": 86_400,
    "max_run_time": 604_800,
    "fault_at": 604_800,
    "fault_count": 10_000,
    "rate": 100_000,
    "duration": 604_800,
    "max_concurrency": 100_000,
    "seed": 2**32 - 1,
    "trace_speedup": 10_000,
    "trials": 1000,
}


#: `--suite-help`'s sections: each option (by destination) in the one it is read under.
HELP_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("What runs and what fails", ("deployment", "failure", "fault_at", "fault_count", "scenario", "model", "deployment_host")),
    ("Closed-loop load: N clients, each M requests one at a time", ("clients", "ramp_up", "requests_per_client", "max_run_time")),
    ("Open-loop load and trace replay (instead of clients)", ("rate", "duration", "rate_stages", "arrival", "max_concurrency", "seed", "trace", "trace_speedup")),
    ("Each request", ("max_tokens", "prompt", "prompt_tokens", "no_stream", "request_timeout", "retry_delay", "sla_latency")),
    ("Results, repeats and the CI gate", ("results_dir", "trials", "expect", "abort_if", "junit")),
    ("Look before you run (each exits before any load)", ("suite_help", "list_deployments", "list_failures", "validate", "dry_run")),
    ("A Locust worker's own (--worker)", ("fault_agent",)),
)

#: The command line's options, not the form's: those that print and exit before anything
#: runs, and a worker's own.
CLI_ONLY = ("suite_help", "list_deployments", "list_failures", "validate", "fault_agent")
#: The web UI form's label of each option (but `CLI_ONLY`) is its name and this hint, where
#: Locust would put the whole help.
FORM_HINTS = {
    "deployment": "empty: agg-dp4; empty with Host: attach to that endpoint",
    "failure": "what is broken; empty: decode_worker",
    "fault_at": "s after the load starts; empty: the failure's own time",
    "fault_count": "processes each injection hits; empty: the failure's own",
    "clients": "concurrent, one Locust user each",
    "ramp_up": "s over which the clients send their first requests",
    "requests_per_client": "each sends them one at a time",
    "rate": "open loop: requests per second, instead of Clients",
    "duration": "s of open-loop arrivals",
    "rate_stages": "open loop in stages: RATE:SECONDS,...",
    "arrival": "open-loop spacing: poisson or constant",
    "max_concurrency": "open loop: requests in flight at most",
    "seed": "of the arrival times and random targets",
    "trace": "a trace file to replay, e.g. locustfiles/traces/sample.jsonl",
    "trace_speedup": "play the trace this many times faster",
    "trials": "run the scenario this many times, each on a fresh deployment",
    "max_tokens": "of each request",
    "prompt": "fixed prompt; empty: a synthetic one",
    "prompt_tokens": "words of the synthetic prompt",
    "no_stream": "non-streaming requests",
    "request_timeout": "s before a request times out",
    "retry_delay": "s a client waits after a failure",
    "sla_latency": "s; a slower success is a violation",
    "max_run_time": "s of load at most",
    "results_dir": "a new or empty directory; empty: results/<deployment>/<failure>-<time>",
    "dry_run": "launch and say what would be signalled; no load",
    "model": "sent in requests; empty: the deployment's",
    "expect": "e.g. failed <= 2; recovery_time_s <= 10",
    "abort_if": "e.g. failed_pct > 50 over 10 s",
    "junit": "write the expectations as JUnit XML to this file",
    "deployment_host": "where a launched deployment listens; loopback by default",
    "scenario": "a YAML scenario file; the fields here win over it",
}


class dropdown(list):  # lower case: it reads as a call, `choices=dropdown(names)`
    """Choices that argparse never rejects.

    argparse refuses any value not `in choices`, but `--deployment` also takes a YAML path
    and `--failure` an alias, and a bad name must reach our own one-line error (exit 2), not
    argparse's usage dump. As a list it is what Locust's UI needs: its JSON is the list, shown
    as a dropdown whose first entry, "", means the default."""

    def __init__(self, names):
        super().__init__(["", *names])

    def __contains__(self, value) -> bool:
        return isinstance(value, str)


def add_options(parser) -> None:
    """Register the options on Locust's argument parser (an `init_command_line_parser` hook).

    Numbers are taken as text and checked by `locustfiles.scenario`, so that a bad one is our
    own one-line error (exit 2), not argparse's usage dump."""
    # Straight on the parser, not an argument group: only Locust's own add_argument marks an
    # option for the web UI form.
    try:
        failures = load_catalogue().names()
    except ConfigError:  # a broken catalogue is the run's to report, in one line; every option must still parse
        failures = []
    parser.add_argument(
        "--deployment",
        default="",
        choices=dropdown(available_deployments()),
        metavar="NAME|PATH",
        help=f"deployment name in deployments/ ({', '.join(available_deployments())}) or a YAML path; "
        "empty with --host targets a running endpoint (default: agg-dp4)",
    )
    parser.add_argument(
        "--failure",
        default="",
        choices=dropdown(failures),
        metavar="NAME",
        help=f"failure from chaos/failures.yaml ({', '.join(failures)}) (default: decode_worker)",
    )
    parser.add_argument("--fault-at", default="", metavar="SECONDS", help="seconds after the clients start to inject the failure (default: from the YAML)")
    parser.add_argument("--fault-count", default="", metavar="N", help="processes each injection signals (default: from the YAML)")
    parser.add_argument("--clients", default=8, metavar="N", help="concurrent clients, one Locust user each")
    parser.add_argument(
        "--ramp-up",
        default=1.0,
        metavar="SECONDS",
        help="seconds over which the clients send their first requests, evenly spread (0: all at once)",
    )
    parser.add_argument("--requests-per-client", default=20, metavar="N", help="requests each client sends, one at a time")
    parser.add_argument(
        "--rate",
        default="",
        metavar="PER_SECOND",
        help="open-loop load: requests per second, sent whether or not earlier ones were answered "
        "(instead of --clients x --requests-per-client)",
    )
    parser.add_argument("--duration", default=30.0, metavar="SECONDS", help="seconds over which --rate's requests arrive")
    parser.add_argument(
        "--rate-stages",
        default="",
        metavar="RATE:SECONDS,...",
        help="open-loop load in stages, each a rate held for some seconds, e.g. '5:10,20:30' (instead of --rate)",
    )
    parser.add_argument(
        "--arrival",
        default="",
        choices=dropdown(ARRIVALS),
        metavar="|".join(ARRIVALS),
        help="how open-loop requests are spaced: poisson (a Poisson process, the default) or constant",
    )
    parser.add_argument(
        "--max-concurrency",
        default=1000,
        metavar="N",
        help="open-loop load: requests in flight at most; an arrival that finds this many waits, and its "
        "latency counts from when it should have been sent",
    )
    parser.add_argument("--seed", default=0, metavar="N", help="seed of the open-loop arrival times, added to each injection's seed for random targets")
    parser.add_argument(
        "--trace",
        default="",
        metavar="FILE",
        help="replay a trace: Mooncake JSON lines (timestamp ms, input_length, output_length, hash_ids) or CSV "
        "(timestamp_ms,input_length,output_length); e.g. locustfiles/traces/sample.jsonl",
    )
    parser.add_argument("--trace-speedup", default=1.0, metavar="FACTOR", help="play the trace this many times faster than recorded")
    parser.add_argument(
        "--trials",
        default=1,
        metavar="N",
        help="run the scenario this many times, each with a fresh deployment and --seed + k - 1, then write the "
        "trials summary (from the web UI too: Start runs them in the background); --expect may then bound a statistic, e.g. 'recovery_time_s.p95 <= 10'",
    )
    parser.add_argument("--max-tokens", default=32, metavar="N", help="max_tokens of each request")
    parser.add_argument("--prompt", default="", metavar="TEXT", help="fixed prompt text (default: a synthetic prompt of --prompt-tokens words)")
    parser.add_argument("--prompt-tokens", default=64, metavar="N", help="length of the synthetic prompt in words")
    parser.add_argument("--no-stream", action="store_true", default=False, help="send non-streaming requests")
    parser.add_argument("--request-timeout", default=10.0, metavar="SECONDS", help="seconds before a request counts as timed out")
    parser.add_argument("--retry-delay", default=0.5, metavar="SECONDS", help="seconds a client waits after a failed request before its next one")
    parser.add_argument("--sla-latency", default=DEFAULT_SLA_LATENCY_S, metavar="SECONDS", help="latency (s) above which a success is an SLA violation")
    parser.add_argument("--max-run-time", default=110.0, metavar="SECONDS", help="seconds of load before the run is stopped anyway")
    parser.add_argument("--results-dir", default="", metavar="DIR", help="the results directory: a new or empty one (default: results/<deployment>/<failure>-<timestamp>)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        default=False,
        help="launch, print what each failure (or the --failure given) would signal, with pids; signal nothing, send no load",
    )
    # Locust prints its --help before it loads the locustfile, so the suite's options cannot
    # be in it (locustio/locust#2917): they have a help of their own.
    parser.add_argument(
        "--suite-help", action=_PrintSuiteHelp, default=False, help="print the suite's own options, grouped and described, and exit"
    )
    # Locust's own --list (-l) lists user classes: these are two flags of their own.
    parser.add_argument(
        "--list-deployments", action="store_true", default=False, help="print the shipped deployments, each with its description, and exit"
    )
    parser.add_argument(
        "--list-failures", action="store_true", default=False, help="print the failures, each with its description and the deployments it applies to, and exit"
    )
    parser.add_argument(
        "--validate",
        action="store_true",
        default=False,
        help="check the deployment, failure, scenario file and options, say what would run, and exit: nothing is launched",
    )
    parser.add_argument("--model", default="", metavar="NAME", help="model name sent in requests (default: the deployment's)")
    parser.add_argument(
        "--expect",
        default="",
        metavar="CHECKS",
        help="what the run must meet, ';'-separated: e.g. 'failed <= 2; recovery_time_s <= 10' or 'no_errors' "
        "(metrics: failed, failed_pct, success_rate_pct, recovery_time_s, latency_ratio, violations_after, "
        "client_outage_s, bad_rejected_pct, bad_reject_max_s, rss_growth_mib_per_min, cascade_ratio), or no_log \"REGEX\" over the "
        "components' logs; any unmet gives exit code 1",
    )
    parser.add_argument(
        "--abort-if",
        default="",
        metavar="RULE",
        help="stop early when failure is certain: 'failed_pct > PERCENT over SECONDS s' (counts as an unmet expectation)",
    )
    parser.add_argument("--junit", default="", metavar="FILE", help="write the expectations as JUnit XML to this file")
    parser.add_argument(
        "--deployment-host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address the launched deployment listens on and gives its clients (loopback by default; "
        "an address other machines reach, for distributed workers elsewhere)",
    )
    parser.add_argument(
        "--scenario",
        default="",
        metavar="FILE",
        help="a YAML file bundling deployment, failure, load and expectations; options given here win over it",
    )
    parser.add_argument(
        "--fault-agent",
        default="",
        metavar="NAME",
        help="on a worker: also be fault agent NAME, which matches the roles an attach file's hosts: gives NAME on this "
        "host and applies the faults the master sends for them",
    )


def option_defaults() -> dict[str, object]:
    """Each option's default, by destination name, as `add_options` declares it."""
    parser = argparse.ArgumentParser(add_help=False)
    add_options(parser)
    return vars(parser.parse_args([]))


class _Grouped:
    """A parser stand-in for `add_options` that files each option in its `HELP_GROUPS` section."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._section = {}
        for title, dests in HELP_GROUPS:
            group = parser.add_argument_group(title)
            self._section.update(dict.fromkeys(dests, group))

    def add_argument(self, *names, **kwargs):
        dest = names[0].lstrip("-").replace("-", "_")
        return self._section[dest].add_argument(*names, **kwargs)


class _PrintSuiteHelp(argparse.Action):
    """`--suite-help` prints and exits as argparse's own `--help` does: while the command line
    is read, before Locust logs its start-up lines (which it does before its `init` event)."""

    def __init__(self, option_strings, dest, default=False, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(suite_help())
        sys.stdout.flush()
        parser.exit(0)


def suite_help() -> str:
    """`--suite-help`: the suite's options, in the sections of `HELP_GROUPS`, with their help
    and defaults."""
    parser = argparse.ArgumentParser(
        prog="locust -f locustfiles/fault_tolerance.py",
        usage="%(prog)s [--headless] [options]",
        description="The suite's own options (Locust's: locust --help). Each is also a field of the web UI's form.",
        add_help=False,
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=32, width=100),
    )
    add_options(_Grouped(parser))
    return parser.format_help()
