#!/usr/bin/env python3
"""tickbus command line.

  python run.py [CONFIG] [--duration S] [--speed X] [--http HOST:PORT] [--log-format console|json] [--log-level L]
  python run.py backtest CONFIG [--from T] [--to T] [--duration S] [--trades FILE]
                                      replay a config on the simulated clock (T: ISO-8601 with
                                      offset); a progress line on a terminal; FILE: the fills as CSV
  python run.py CONFIG --role core|strategies [--only NAME,...]
                                      one side of a split over NATS JetStream (bus.nats)
  python run.py check CONFIG          validate a config and print the resolved plan
  python run.py strategies            list the strategies and venues that can be loaded
  python run.py login VENUE CONFIG    a venue's interactive login (a broker's SSO): serves its
                                      redirect on 127.0.0.1, prints the link, stores the session
  python run.py emulate VENUE [--port N] [--seed S] [--start ISO-TIME] [--speed X] [--faults K=V,...]
                                      serve a venue emulator on 127.0.0.1, its clock from
                                      ISO-TIME (with offset, e.g. 2026-12-07T10:00:00+05:30)
                                      at X times wall time

With no CONFIG it runs configs/paper_sma.yaml: a paper session, no network, no credentials.
"""

from __future__ import annotations

import argparse
import sys

from engine.app import commands

COMMANDS = ("check", "strategies", "emulate", "run", "backtest", "login")


def parse(argv: list[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-format", choices=("console", "json"), default="console")
    common.add_argument("--log-level", default="info")
    parser = argparse.ArgumentParser(prog="run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", parents=[common], help="run a config (the default command)")
    run.add_argument("config", nargs="?", default=str(commands.DEFAULT_CONFIG))
    run.add_argument("--duration", type=float, default=None, help="seconds to run (simulated seconds in a backtest)")
    run.add_argument("--speed", type=float, default=None, help="clock speed-up for simulated sessions")
    run.add_argument("--http", default=None, metavar="HOST:PORT",
                     help="serve the status page, controls and /metrics (e.g. 127.0.0.1:8080)")
    run.add_argument("--role", choices=("core", "strategies"), default=None,
                     help="run one side of a split over NATS (needs bus.nats in the config)")
    run.add_argument("--only", default=None, metavar="NAME,...", help="with --role strategies: these strategies only")
    backtest = sub.add_parser("backtest", parents=[common], help="replay a config on the simulated clock")
    backtest.add_argument("config")
    backtest.add_argument("--from", dest="start", default=None, metavar="T",
                          help="start here, ISO-8601 with offset (default: the config's start:, else the data's first row)")
    backtest.add_argument("--to", dest="end", default=None, metavar="T",
                          help="end here, ISO-8601 with offset (default: --duration, else the data's end)")
    backtest.add_argument("--duration", type=float, default=None, help="simulated seconds to replay")
    backtest.add_argument("--trades", default=None, metavar="FILE", help="write every fill to FILE as CSV")
    check = sub.add_parser("check", parents=[common], help="validate a config, print the resolved plan")
    check.add_argument("config")
    sub.add_parser("strategies", parents=[common], help="list strategies and venues")
    login = sub.add_parser("login", parents=[common], help="a venue's interactive login (SSO); stores the session")
    login.add_argument("venue")
    login.add_argument("config")
    emulate = sub.add_parser("emulate", parents=[common], help="serve a venue emulator on 127.0.0.1")
    emulate.add_argument("venue")
    emulate.add_argument("--port", type=int, default=0)
    emulate.add_argument("--seed", type=int, default=1)
    emulate.add_argument("--start", default=None, help="the emulator clock's start, ISO-8601 with offset")
    emulate.add_argument("--speed", default=None, help="emulated seconds per wall second (default 1)")
    emulate.add_argument("--faults", default=None, help="fault knobs, e.g. burst_5xx=3,error_rate=0.05,latency_ms=200")
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)

    def dispatch() -> int:
        commands.setup_logging(args.log_format, args.log_level)
        if args.command == "check":
            return commands.cmd_check(args.config)
        if args.command == "backtest":
            return commands.cmd_backtest(args.config, start=args.start, end=args.end, duration=args.duration,
                                         log_format=args.log_format, trades=args.trades)
        if args.command == "strategies":
            return commands.cmd_strategies()
        if args.command == "login":
            return commands.cmd_login(args.venue, args.config)
        if args.command == "emulate":
            return commands.cmd_emulate(
                args.venue, port=args.port, seed=args.seed, start=args.start, speed=args.speed, faults=args.faults
            )
        return commands.cmd_run(
            args.config, duration=args.duration, speed=args.speed, log_format=args.log_format, http=args.http,
            role=args.role, only=args.only,
        )

    return commands.guarded(dispatch)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
