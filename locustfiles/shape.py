"""The load shape: every client at once, until each has sent its requests or time runs out."""

from locust import LoadTestShape

from locustfiles.run import controller_of

__all__ = ["ClientsShape"]


class ClientsShape(LoadTestShape):
    """Spawns `--clients` users together; ends the test when the run says the load is over."""

    def tick(self):
        environment = self.runner.environment
        clients = int(environment.parsed_options.clients)
        run = controller_of(environment).current
        if run is not None and run.should_stop():
            return None
        return clients, clients
