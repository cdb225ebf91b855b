"""tickbus command line.

  python run.py [CONFIG] [--duration S] [--speed X] [--http HOST:PORT] [--log-format console|json] [--log-level L]
  python run.py backtest CONFIG [--from T] [--to T] [--duration S] [--trades FILE]
                                      replay a config on the simulated clock (T: ISO-8601 with
                                      offset); a progress line on a terminal; FILE: the fills as CSV
  python run.py record CONFIG --out DIR [--duration S] [--flush-s S]
                                      run a config and record every quote, trade and bar its
                                      venues feed to Parquet under DIR (the historical layout)
  python run.py download VENUE --symbol S --interval I --from T --to T --out DIR [--emulator]
                                      a venue's historical candles (I: 1m, 5m, 1h, 1d) as bars
                                      files a historical venue replays
  python run.py CONFIG --role core|strategies [--only NAME,...]
                                      one side of a split over NATS JetStream (bus.nats)
  python run.py report JOURNAL [--out FILE]
                                      a past run's HTML report (and its trades CSV beside it)
                                      again, from its journal alone
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
import os
import sys
from importlib import metadata
from typing import Any

from engine.app import commands

COMMANDS = ("check", "strategies", "emulate", "run", "backtest", "sweep", "report", "login", "record", "download")


def program() -> str:
    """How the user called us: `tickbus` (the console script) or `run.py`."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "run.py"
    return "tickbus" if name == "tickbus" else "run.py"


def version() -> str:
    try:
        return metadata.version("tickbus")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """Every command and its arguments."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-format", choices=("console", "json"), default="console",
                        help="console: readable lines; json: JSON lines on stderr and the summary as JSON on stdout")
    common.add_argument("--log-level", default="info", help="debug, info, warning or error")
    parser = argparse.ArgumentParser(prog=program(), description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tickbus {version()}")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", parents=[common], help="run a config (the default command)")
    run.add_argument("config", nargs="?", default=str(commands.DEFAULT_CONFIG),
                     help="the run's YAML (default: configs/paper_sma.yaml, a paper session)")
    run.add_argument("--duration", type=float, default=None, help="seconds to run (simulated seconds in a backtest)")
    run.add_argument("--speed", type=float, default=None, help="clock speed-up for simulated sessions")
    run.add_argument("--http", default=None, metavar="HOST:PORT",
                     help="serve the status page, controls and /metrics (e.g. 127.0.0.1:8080)")
    run.add_argument("--role", choices=("core", "strategies"), default=None,
                     help="run one side of a split over NATS (needs bus.nats in the config)")
    run.add_argument("--only", default=None, metavar="NAME,...", help="with --role strategies: these strategies only")
    backtest = sub.add_parser("backtest", parents=[common], help="replay a config on the simulated clock")
    backtest.add_argument("config", help="the run's YAML")
    backtest.add_argument("--from", dest="start", default=None, metavar="T",
                          help="start here, ISO-8601 with offset (default: the config's start:, else the data's first row)")
    backtest.add_argument("--to", dest="end", default=None, metavar="T",
                          help="end here, ISO-8601 with offset (default: --duration, else the data's end)")
    backtest.add_argument("--duration", type=float, default=None, help="simulated seconds to replay")
    backtest.add_argument("--trades", default=None, metavar="FILE", help="write every fill to FILE as CSV")
    sweep = sub.add_parser("sweep", parents=[common], help="backtest every combination of parameters, ranked")
    sweep.add_argument("config", help="the backtest's YAML")
    sweep.add_argument("--param", action="append", default=[], metavar="PATH=SPEC",
                       help="a value to vary, e.g. strategies[0].params.fast=3:10 (range), =3:10:2, =5,8,13 (list)")
    sweep.add_argument("--metric", default="net", help="rank by: net (PnL, the default), realized, fees, fills")
    sweep.add_argument("--out", default="sweep", help="folder for sweep.csv and sweep.html (default ./sweep)")
    sweep.add_argument("--jobs", type=int, default=None, help="backtests at once (default: the machine's cores)")
    sweep.add_argument("--sample", type=int, default=None, help="try N combinations drawn at random, not all")
    sweep.add_argument("--seed", type=int, default=1, help="the seed of --sample's draw")
    sweep.add_argument("--split", type=float, default=None,
                       help="walk-forward: rank on the first fraction of --from..--to, show the rest beside it")
    sweep.add_argument("--from", dest="start", default=None, metavar="T", help="the period's start, ISO-8601 with offset")
    sweep.add_argument("--to", dest="end", default=None, metavar="T", help="the period's end, ISO-8601 with offset")
    report = sub.add_parser("report", parents=[common], help="a past run's HTML report again, from its journal")
    report.add_argument("journal", help="the run's journal (SQLite), e.g. var/journal/paper_sma.sqlite")
    report.add_argument("--out", default=None, metavar="FILE",
                        help="the HTML file (default: beside the journal, <journal>.report.html); the CSV goes beside it")
    _record_parser(sub, common)
    _download_parser(sub, common)
    check = sub.add_parser("check", parents=[common], help="validate a config, print the resolved plan")
    check.add_argument("config", help="the YAML to check")
    sub.add_parser("strategies", parents=[common], help="list strategies and venues")
    login = sub.add_parser("login", parents=[common], help="a venue's interactive login (SSO); stores the session")
    login.add_argument("venue", help="a venue whose login is interactive, e.g. gopocket")
    login.add_argument("config", help="the run's YAML holding the venue's block")
    emulate = sub.add_parser("emulate", parents=[common], help="serve a venue emulator on 127.0.0.1")
    emulate.add_argument("venue", help="a venue with an emulator: gopax, samco, smallcase, firstock, gopocket")
    emulate.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (default 0: a free one)")
    emulate.add_argument("--seed", type=int, default=1, help="the seed of its market and demo credentials")
    emulate.add_argument("--start", default=None, help="the emulator clock's start, ISO-8601 with offset")
    emulate.add_argument("--speed", default=None, help="emulated seconds per wall second (default 1)")
    emulate.add_argument("--faults", default=None, help="fault knobs, e.g. burst_5xx=3,error_rate=0.05,latency_ms=200")
    return parser


def _record_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    record = sub.add_parser("record", parents=[common], help="run a config and record its market data to Parquet")
    record.add_argument("config", help="the run's YAML (paper, live, emulated or synthetic)")
    record.add_argument("--out", default=None, metavar="DIR",
                        help="the recording's folder (default: the config's record.dir)")
    record.add_argument("--duration", type=float, default=None, help="seconds to run")
    record.add_argument("--speed", type=float, default=None, help="clock speed-up for simulated sessions")
    record.add_argument("--flush-s", dest="flush_s", type=float, default=None,
                        help="seconds between writes (default: record.flush_s, else 5)")
    record.add_argument("--http", default=None, metavar="HOST:PORT", help="serve the status page, as run does")


def _download_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    download = sub.add_parser("download", parents=[common], help="fetch a venue's historical candles as bars files")
    download.add_argument("venue", help="a venue with candles (gopax, samco), or a venue block's name with --config")
    download.add_argument("--symbol", required=True, help="as the venue spells it: BTC-KRW, NSE:RELIANCE")
    download.add_argument("--interval", required=True, help="the candle length: 1m, 5m, 30m, 1h, 1d (or seconds)")
    download.add_argument("--from", dest="start", required=True, metavar="T", help="ISO-8601 with offset")
    download.add_argument("--to", dest="end", required=True, metavar="T", help="ISO-8601 with offset")
    download.add_argument("--out", required=True, metavar="DIR", help="the folder to write under")
    download.add_argument("--config", default=None, help="take the venue block VENUE from this config (credentials)")
    download.add_argument("--emulator", action="store_true", help="start the venue's emulator and download from it")
    download.add_argument("--seed", type=int, default=None, help="with --emulator: its market's seed")


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line; with no command (or a config first), `run`."""
    if not argv or argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version"):
        argv = ["run", *argv]
    return build_parser().parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)

    def dispatch() -> int:
        commands.setup_logging(args.log_format, args.log_level)
        if args.command == "check":
            return commands.cmd_check(args.config)
        if args.command == "backtest":
            return commands.cmd_backtest(args.config, start=args.start, end=args.end, duration=args.duration,
                                         log_format=args.log_format, trades=args.trades)
        if args.command == "sweep":
            return commands.cmd_sweep(args.config, args.param, metric=args.metric, out=args.out, jobs=args.jobs,
                                      sample=args.sample, seed=args.seed, split=args.split, start=args.start, end=args.end)
        if args.command == "report":
            from engine.report.runs import cmd_report

            return cmd_report(args.journal, args.out)
        if args.command == "record":
            return commands.cmd_record(args.config, out=args.out, duration=args.duration, speed=args.speed,
                                       log_format=args.log_format, flush_s=args.flush_s, http=args.http)
        if args.command == "download":
            return commands.cmd_download(
                args.venue, symbol=args.symbol, interval=args.interval, start=args.start, end=args.end, out=args.out,
                config=args.config, emulator=args.emulator, seed=args.seed, log_format=args.log_format,
            )
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


def run() -> None:
    """The `tickbus` console script."""
    sys.exit(main(sys.argv[1:]))
