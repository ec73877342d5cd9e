"""The load shape: every client at once, until each has sent its requests or time runs out."""

from locust import LoadTestShape

from locustfiles.run import controller_of

__all__ = ["ClientsShape"]


class ClientsShape(LoadTestShape):
    """Spawns `--clients` users together; ends the test when the run says the load is over."""

    def tick(self):
        environment = self.runner.environment
        run = controller_of(environment).current
        if run is not None:
            if run.should_stop():
                return None
            clients = run.scenario.load.clients
        else:  # the first tick, before the run exists: a bad number is the run's to refuse
            try:
                clients = max(1, int(environment.parsed_options.clients))
            except (TypeError, ValueError):
                clients = 1
        return clients, clients
