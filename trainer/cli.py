"""``turnrl`` command line (also ``python -m trainer``).

Heavy packages (torch, deepspeed, vllm) are imported inside the commands that need them, after the config
has been validated, so ``turnrl config show`` and a typo in an override answer in well under a second.
"""

from __future__ import annotations

import argparse
import sys

from trainer.config import ConfigError, check_paths, load_config, run_dir, to_yaml

EXIT_CONFIG_ERROR = 2


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="YAML experiment file (default: the built-in quickstart)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. algorithm.name=grpo rollout.group_size=4")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turnrl",
        description="Reinforcement learning for multi-turn LLM agents (ALFWorld, WebShop, SWE).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a policy (no arguments: the CPU quickstart)")
    _add_config_args(train)

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint on held-out tasks")
    evaluate.add_argument("--checkpoint", required=True, help="checkpoint folder (or a run folder: its latest)")
    evaluate.add_argument("--episodes", type=int, help="held-out episodes (default: trainer.eval_episodes)")
    _add_config_args(evaluate)

    config = commands.add_parser("config", help="inspect configs")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_commands.add_parser("show", help="print the resolved, validated config as YAML")
    show.add_argument("--doc", action="store_true", help="print every field with its documentation instead")
    _add_config_args(show)
    where = config_commands.add_parser("run-dir", help="print the run folder this config writes to (for launchers)")
    _add_config_args(where)

    commands.add_parser("doctor", help="versions, GPU presence, and which engines and envs work here")

    plot = commands.add_parser("plot", help="draw PNG curves of a run's metrics.jsonl")
    plot.add_argument("run_dir", help="run folder (runs/<name>)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "doctor":
            from trainer.doctor import report

            print(report())
            return 0
        if args.command == "plot":
            from trainer.plots import plot_run

            for path in plot_run(args.run_dir):
                print(path)
            return 0
        config = load_config(args.config, args.overrides)
        if args.command == "config":
            if args.config_command == "run-dir":
                print(run_dir(config))
            elif args.doc:
                from trainer.config_doc import describe

                print(describe(config))
            else:
                print(to_yaml(config), end="")
            return 0
        check_paths(config)
    except ConfigError as exc:
        print(f"turnrl: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR

    if args.command == "train":
        from trainer.run import train

        train(config)
        return 0
    from trainer.run import evaluate_checkpoint

    evaluate_checkpoint(config, args.checkpoint, episodes=args.episodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
