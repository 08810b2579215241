"""Serve the Fivetran simulator on 127.0.0.1 in the foreground::

    python -m orchestra_fivetran.testing --port 8765 --duration 2 --connectors 500

Prints ``ready <base url>`` once it listens. ``GET /_simulator/connections`` (no auth) lists
every connection's trigger and sync counts.
"""

from __future__ import annotations

import argparse
import sys

from . import DEFAULT_KEY, DEFAULT_SECRET, FivetranSimulator


def main(argv: list[str] | None = None) -> None:
    """Parse the options, start the server, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m orchestra_fivetran.testing",
                                     description="a simulated Fivetran REST API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds a sync takes")
    parser.add_argument("--connectors", type=int, default=0,
                        help="create connections conn_0 ... conn_{N-1}")
    parser.add_argument("--auto-create", action="store_true",
                        help="create any unknown connection on first use")
    parser.add_argument("--key", default=DEFAULT_KEY)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the simulator only listens on loopback addresses")
    sim = FivetranSimulator(run_duration=args.duration, credentials=[(args.key, args.secret)],
                            auto_create=args.auto_create,
                            connectors=[f"conn_{i}" for i in range(args.connectors)])
    with sim.serve(args.port, args.host) as url:
        print(f"ready {url}", flush=True)
        try:
            import threading

            threading.Event().wait()
        except KeyboardInterrupt:
            sys.exit(0)


if __name__ == "__main__":
    main()
