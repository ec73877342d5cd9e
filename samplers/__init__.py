"""Samplers: the deployment's metrics, its processes and the GPUs, each into its CSV file as
the run goes. They read the deployment only through `deployments.interface`."""
