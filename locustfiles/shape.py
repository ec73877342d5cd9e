"""The load shape: every client at once (or the open-loop generators), until the load is
sent or time runs out."""

from locust import LoadTestShape

from faultsuite.errors import ConfigError
from locustfiles.chat_user import ChatUser
from locustfiles.open_loop_user import OpenLoopUser
from locustfiles.run import controller_of
from locustfiles.scenario import LoadSettings, scenario_from_options

__all__ = ["ClientsShape"]


def _users(load: LoadSettings) -> tuple[int, int, list]:
    return load.generators, load.generators, [OpenLoopUser if load.open_loop else ChatUser]


class ClientsShape(LoadTestShape):
    """Spawns the run's users together: `--clients` ChatUsers, or for `--rate` one
    OpenLoopUser per worker process (one in all locally); ends the test when the run says the
    load is over."""

    def tick(self):
        environment = self.runner.environment
        controller = controller_of(environment)
        run = controller.current
        if run is not None:
            return None if run.should_stop() else _users(run.scenario.load)
        if controller.trials is not None:  # trials from the web UI: they send the load, not we
            return None if controller.trials.done else (0, 1, [ChatUser])
        # The first tick comes before the run exists (it starts the run): its scenario, read
        # here too, says which users; a bad one is the run's to refuse, and sends nothing.
        try:
            return _users(scenario_from_options(environment.parsed_options).load)
        except ConfigError:
            return 1, 1, [ChatUser]
