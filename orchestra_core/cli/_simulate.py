"""``orchestra simulate``: run an integration's vendor simulator as a local HTTP server."""

from __future__ import annotations

import json
import signal
import threading

import click

from .._errors import PluginError
from ._common import host_of

__all__ = ("simulate",)


@click.command()
@click.argument("name", required=False)
@click.option("--list", "list_them", is_flag=True,
              help="List the integrations that ship a simulator, and exit.")
@click.option("--port", type=int, default=0, show_default=True,
              help="Port to listen on, on 127.0.0.1 (0: any free port).")
@click.option("--duration", type=float, default=None, metavar="SECONDS",
              help="How long each simulated vendor run takes.")
@click.option("--webhook-url", default=None, metavar="URL",
              help="Deliver the simulator's webhooks to URL (on this machine), e.g. "
                   "http://127.0.0.1:8080/webhooks/fivetran.")
@click.option("--webhook-secret", default=None, envvar="ORCHESTRA_SIMULATOR_WEBHOOK_SECRET",
              metavar="SECRET",
              help="Sign webhooks with SECRET (better: ORCHESTRA_SIMULATOR_WEBHOOK_SECRET).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the URL and credentials as one JSON line.")
@click.pass_context
def simulate(ctx: click.Context, name: str | None, list_them: bool, port: int,
             duration: float | None, webhook_url: str | None, webhook_secret: str | None,
             as_json: bool) -> None:
    """Run the vendor simulator of integration NAME on 127.0.0.1 until Ctrl-C.

    Prints the base URL to give a connection (``base_url``) and the credentials the simulator
    accepts. NAME may also be a ``module:attribute`` reference to a simulator class.
    """
    host = host_of(ctx)
    if list_them:
        rows = [(spec.name, spec.simulator) for spec in host.integrations if spec.simulator]
        if as_json:
            click.echo(json.dumps([{"integration": n, "simulator": s} for n, s in rows]))
        elif not rows:
            click.echo("No installed integration ships a simulator.")
        for integration, reference in rows if not as_json else ():
            click.echo(f"{integration:<16} {reference}")
        return
    if not name:
        raise click.UsageError("give the integration to simulate (see --list)")
    spec = host.integrations.find(name)
    if spec is not None:
        if not spec.simulator:
            raise PluginError(f"integration {spec.name!r} has no simulator")
        reference, label = spec.simulator, spec.name
    elif ":" in name:
        reference, label = name, name
    else:
        known = ", ".join(s.name for s in host.integrations if s.simulator) or "none"
        raise PluginError(f"unknown integration {name!r} (integrations with a simulator: "
                          f"{known})")
    from ..testing._simulated import build_simulator, load_simulator

    cls = load_simulator(reference)
    if not callable(getattr(cls, "serve", None)):
        raise PluginError(f"{reference} is not a simulator: it has no serve() method")
    sim = build_simulator(cls, duration)
    label = getattr(sim, "name", None) or label
    if webhook_url:
        adder = getattr(sim, "add_webhook", None)
        if adder is None:
            raise PluginError(f"the {label} simulator does not send webhooks")
        try:
            adder(webhook_url, webhook_secret)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--webhook-url") from exc
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with sim.serve(port=port) as url:
            credentials = sim.credentials() if hasattr(sim, "credentials") else {}
            described = sim.describe() if hasattr(sim, "describe") else {}
            if as_json:
                click.echo(json.dumps({"integration": label, "url": url,
                                       "credentials": credentials, "objects": described,
                                       "webhook_url": webhook_url}))
            else:
                click.echo(f"{label} simulator listening on {url}")
                for key, value in credentials.items():
                    click.echo(f"  {key}: {value}")
                if described:
                    click.echo(f"  objects: {json.dumps(described, default=str)}")
                if webhook_url:
                    click.echo(f"  webhooks to {webhook_url}"
                               + (" (signed)" if webhook_secret else " (unsigned)"))
                click.echo("Press Ctrl-C to stop.")
            try:
                while not stop.wait(0.2):
                    pass
            except KeyboardInterrupt:
                pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not as_json:
        click.echo("stopped")
