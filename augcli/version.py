"""augcli's version: a leaf, so that modules recording it (plan, job, cli) need not import the package face."""

__version__ = "0.1.0"
