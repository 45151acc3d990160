#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A fake AI agent reporting to bearmon through bearmon_client: it runs
tasks of random duration with occasional errors, reports their tokens, a
quality score and a coordination exchange with a peer, and answers
bearmon's `set_batch_size` command (args {"value": "N"}, 1 <= N <= 256).

    python3 example_agent.py [--address ADDRESS] [--agent-id ID] [--seconds S]
"""

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bearmon_client  # noqa: E402


class ToolFailure(Exception):
    """What a failed tool call raises in this fake agent."""


class Agent:
    def __init__(self, client):
        self.client = client
        self.batch_size = 8
        self.accuracy = 0.9
        client.on_command(self.on_command)

    def on_command(self, cmd):
        """Runs on the client's thread; the returned dict is the ack's result."""
        if cmd.name != "set_batch_size":
            raise ValueError("unknown command %s" % cmd.name)
        value = int(cmd.args.get("value", ""))
        if not 1 <= value <= 256:
            raise ValueError("value must be in [1, 256]")
        previous, self.batch_size = self.batch_size, value
        print("set_batch_size: %d -> %d" % (previous, value), flush=True)
        return {"previous": str(previous)}

    def run_task(self, n):
        try:
            with self.client.task(type="plan" if n % 3 == 0 else "answer",
                                  task_id="task-%d" % n) as t:
                t.tokens_in = random.randint(100, 999)
                time.sleep(random.uniform(0.005, 0.045))
                if random.random() < 0.05:  # about one task in twenty fails
                    raise ToolFailure("the search tool timed out")
                t.tokens_out = random.randint(20, 320) * self.batch_size // 8
        except ToolFailure:
            pass  # reported with error_class "ToolFailure"; the agent goes on
        self.client.counter("agent_example_tool_calls_total", 1 + n % 3,
                            {"tool": "search" if n % 2 else "calculator"})
        self.accuracy = min(1.0, max(0.8, self.accuracy + random.uniform(-0.01, 0.01)))
        self.client.gauge("agent_quality_accuracy", self.accuracy)
        self.client.gauge("agent_example_batch_size", self.batch_size)
        if n % 10 == 0:
            self.client.coord("example-peer", latency_ms=random.uniform(1, 5),
                              sync_wait_ms=random.uniform(0, 2), messages=2,
                              bytes=random.randint(512, 2560))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--address", default=None, help="unix:/path or tcp:host:port")
    p.add_argument("--agent-id", default="example-agent-py")
    p.add_argument("--seconds", type=float, default=10.0)
    a = p.parse_args()
    client = bearmon_client.Client(a.address, a.agent_id, type="example", version="1.0.0",
                                   labels={"team": "sdk"}, capabilities=["set_batch_size"])
    agent = Agent(client)
    end = time.monotonic() + a.seconds
    n = 0
    while time.monotonic() < end:
        agent.run_task(n)
        n += 1
    if not client.flush(2.0):
        print("not everything was delivered within 2 s", file=sys.stderr)
    print(client.stats(), flush=True)
    client.close()


if __name__ == "__main__":
    main()
