"""``python -m orchestra_slack.testing``: serve the Slack simulator on 127.0.0.1."""

from __future__ import annotations

import time

from . import SlackSimulator

if __name__ == "__main__":
    sim = SlackSimulator()
    with sim.serve() as url:
        print(f"Slack simulator on {url}; webhook URL: {sim.add_webhook_url('#alerts')}")
        while True:
            time.sleep(3600)
