"""``turnrl`` command line (also ``python -m trainer``).

Heavy packages (torch, deepspeed, vllm) are imported inside the commands that need them, after the config
has been validated, so ``turnrl config show`` and a typo in an override answer in well under a second.
Every bad argument (a config key or value, a YAML file, ``trainer.resume``, ``--checkpoint``, a run folder,
an unknown option) ends the same way: one line on stderr, exit code 2, nothing heavy imported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainer.config import ConfigError, check_paths, load_config, run_folder, to_yaml

EXIT_CONFIG_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block), exit code 2 like a config error."""

    def error(self, message: str):
        self.exit(EXIT_CONFIG_ERROR, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0 (got {value})")
    return value


def _plan(config, args: argparse.Namespace) -> int:
    """``turnrl plan``: the table (or JSON) and the verdict as the exit code."""
    import json

    from trainer.memory_plan import format_plan, plan_config, plan_json

    memory_plan = plan_config(config, args.gpus, args.gpu_memory_gib)
    print(json.dumps(plan_json(memory_plan)) if args.json else format_plan(memory_plan))
    return 0 if memory_plan.fits else 1


def _checkpoint(text: str) -> Path:
    """The Hugging Face folder behind ``--checkpoint``, found before anything heavy is imported."""
    from trainer.checkpoint_layout import model_folder

    try:
        return model_folder(text)
    except FileNotFoundError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run_with_metrics(text: str) -> Path:
    if not (Path(text) / "metrics.jsonl").is_file():
        raise argparse.ArgumentTypeError(f"no metrics.jsonl in {text}")
    return Path(text)


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="YAML experiment file (default: the built-in quickstart)")
    parser.add_argument(
        "overrides", nargs="*", help="dotted overrides, e.g. algorithm.name=grpo rollout.group_size=4"
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="turnrl",
        description="Reinforcement learning for multi-turn LLM agents (ALFWorld, WebShop, SWE).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a policy (no arguments: the CPU quickstart)")
    _add_config_args(train)

    evaluate = commands.add_parser("eval", help="evaluate a checkpoint on held-out tasks")
    evaluate.add_argument(
        "--checkpoint",
        required=True,
        type=_checkpoint,
        help="checkpoint folder (or a run folder: its latest)",
    )
    evaluate.add_argument(
        "--episodes", type=_positive_int, help="held-out episodes (default: trainer.eval_episodes)"
    )
    _add_config_args(evaluate)

    config = commands.add_parser("config", help="inspect configs")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_commands.add_parser("show", help="print the resolved, validated config as YAML")
    show.add_argument("--doc", action="store_true", help="print every field with its documentation instead")
    _add_config_args(show)
    where = config_commands.add_parser(
        "run-dir", help="print the run folder this config writes to (for launchers)"
    )
    _add_config_args(where)

    plan = commands.add_parser(
        "plan",
        help="per-GPU memory of a config (from model.path/config.json, no weights); exit 0 fits, 1 does not",
    )
    plan.add_argument("--gpus", type=_positive_int, required=True, help="GPUs (one rank each)")
    plan.add_argument("--gpu-memory-gib", type=_positive_float, required=True, help="memory of one GPU, GiB")
    plan.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    _add_config_args(plan)

    commands.add_parser("doctor", help="versions, GPU presence, and which engines and envs work here")

    plot = commands.add_parser("plot", help="draw PNG curves of a run's metrics.jsonl")
    plot.add_argument("run_dir", type=_run_with_metrics, help="run folder (runs/<name>)")
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
                print(run_folder(config))
            elif args.doc:
                from trainer.config_doc import describe

                print(describe(config))
            else:
                print(to_yaml(config), end="")
            return 0
        if args.command == "plan":
            return _plan(config, args)
        check_paths(config)
    except ConfigError as exc:
        print(f"turnrl: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR

    if args.command == "train":
        from trainer.run import train

        train(config)
        return 0
    from trainer.run import evaluate_checkpoint

    evaluate_checkpoint(config, str(args.checkpoint), episodes=args.episodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
