"""Command line: ``pseudolabel run | run-round | predict | evaluate | review | add-labels | report``
(also ``python -m pseudolabel``)."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from pathlib import Path

from .errors import PseudolabelError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pseudolabel", description="Self-training for text classification.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("run", "run every remaining round"), ("run-round", "run exactly the next unfinished round")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--config", required=True, help="YAML file (see experiments/)")
        p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                       help="override config keys, e.g. --set selection.threshold=0.8 loop.max_rounds=5")
        redo = p.add_mutually_exclusive_group()
        redo.add_argument("--overwrite", action="store_true",
                          help="replace a run folder that holds a run of another config or data")
        redo.add_argument("--discard-from", type=_round_number, metavar="N",
                          help="first remove round N, the rounds after it and final/ (a damaged round), then run")
    p = sub.add_parser("predict", help="label a file with a finished run's final model")
    p.add_argument("--run", required=True, help="run folder")
    p.add_argument("--input", required=True, help=".csv, .jsonl or .parquet with a text column")
    p.add_argument("--output", required=True, help=".csv, .jsonl or .parquet to write")
    p.add_argument("--text-column", help="default: the run's data.text_column")
    p = sub.add_parser("evaluate", help="score a finished run's final model on a labeled file")
    p.add_argument("--run", required=True, help="run folder")
    p.add_argument("--input", required=True, help=".csv, .jsonl or .parquet with text and label columns")
    p.add_argument("--text-column", help="default: the run's data.text_column")
    p.add_argument("--label-column", help="default: the run's data.label_column")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p = sub.add_parser("review", help="propose pool rows for a person to label (class-balanced, least sure, spread)")
    p.add_argument("--run", required=True, help="run folder (finished or between rounds)")
    p.add_argument("--n", type=int, default=50, help="rows to propose (default 50)")
    p.add_argument("--strategy", choices=["uncertain", "typical"], default="uncertain",
                   help="within each class: the least sure rows, spread out (default), or the centres of "
                        "clusters of the less sure half")
    p.add_argument("--output", required=True, help=".csv, .jsonl or .parquet to write; fill its label column")
    p = sub.add_parser("add-labels", help="add a filled review file to the run's gold rows for the next round")
    p.add_argument("--run", required=True, help="run folder")
    p.add_argument("--input", required=True, help="the filled review file (columns pool_row and label)")
    p = sub.add_parser("report", help="draw report.png (and the model card of a finished run) again")
    p.add_argument("--run", required=True, help="run folder")
    return parser


def _round_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a round number (0, 1, ...), got {text!r}")
    return int(text)


def cmd_run(args, max_new_rounds: int | None) -> int:
    from .api import SelfTrainer
    from .config import load_config

    cfg = load_config(args.config, args.overrides)
    for key in ("labeled", "unlabeled"):
        if getattr(cfg.data, key) is None:
            raise PseudolabelError(f"{args.config}: config key 'data.{key}' is required by the CLI")
    # The config's output_dir as written, runs/default included: the next call must find the run
    # again (SelfTrainer() alone, with no output_dir at all, writes to a new temporary folder).
    st = SelfTrainer(config=cfg, output_dir=cfg.output_dir, overwrite=args.overwrite)
    if args.discard_from is None:
        st.fit(cfg.data.labeled, cfg.data.unlabeled, cfg.data.eval, max_new_rounds=max_new_rounds)
    else:
        from accelerate import PartialState

        from .state import RunState

        procs = PartialState()
        state = RunState(cfg.output_dir, is_main=procs.is_main_process, barrier=procs.wait_for_everyone)
        with state.lock():  # held on into fit(), so no other writer starts between the discard and the redo
            gone = state.discard_from(args.discard_from, cfg)
            which = f"rounds {gone[0]}-{gone[-1]}" if len(gone) > 1 else f"round {gone[0]}"
            print(f"{cfg.output_dir}: discarded {which}; running again from round {gone[0]}")
            st.fit(cfg.data.labeled, cfg.data.unlabeled, cfg.data.eval, max_new_rounds=max_new_rounds)
    if st.rounds_run_ == 0:
        print(f"{cfg.output_dir}: all rounds are done (rounds 0-{st.n_rounds_}, stopped: "
              f"{st.termination_condition_}); nothing to do")
        return 0
    if st.termination_condition_ is None:
        print(f"{cfg.output_dir}: round {st.n_rounds_} done; run again for the next round")
    else:
        print(f"{cfg.output_dir}: run finished after round {st.n_rounds_} ({st.termination_condition_}); "
              f"final model = round {st.final_round_} in {Path(cfg.output_dir) / 'final'}")
    return 0


def cmd_predict(args) -> int:
    from .api import SelfTrainer
    from .predict import check_output, predict_file

    out = check_output(args.output)
    st = SelfTrainer.from_run(args.run)
    rows = predict_file(st, args.input, out, text_column=args.text_column)
    print(f"wrote {rows} predictions to {out}")
    return 0


def cmd_evaluate(args) -> int:
    from .api import SelfTrainer
    from .data import labels_from, read_table, texts_from
    from .metrics import format_report, report

    st = SelfTrainer.from_run(args.run)
    frame = read_table(args.input, name=args.input)
    texts = texts_from(frame, args.text_column or st.config_.data.text_column, name=args.input)
    label_col = args.label_column or st.config_.data.label_column
    gold = st.label_set_.encode(labels_from(frame, label_col, name=args.input), name=args.input)
    pred = st.predict_proba(texts).argmax(axis=1)
    result = report(gold, pred, st.label_set_.names)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
"""OSErrors that are the disk's, not the program's: one line and exit 2, not a traceback."""


def cmd_review(args) -> int:
    from .api import SelfTrainer
    from .predict import ChunkWriter, check_output

    output = check_output(args.output)
    st = SelfTrainer.from_run(args.run, finished=False)
    frame = st.review(args.n, strategy=args.strategy)
    tmp = output.with_name(f".tmp-{output.name}")
    writer = ChunkWriter(tmp, output)
    writer.write(frame, 0)
    writer.close()
    os.replace(tmp, output)
    print(f"wrote {len(frame)} rows to label to {args.output}: fill the label column, then "
          f"pseudolabel add-labels --run {args.run} --input {args.output}")
    return 0


def cmd_add_labels(args) -> int:
    from .api import SelfTrainer
    from .state import RunState

    st = SelfTrainer.from_run(args.run, finished=False)
    before = len(RunState(args.run).extra_labels())
    st.add_labels(args.input)
    total = len(RunState(args.run).extra_labels())
    print(f"{args.run}: added {total - before} gold labels ({total} added by review in all); "
          "the next run-round trains with them")
    return 0


def cmd_report(args) -> int:
    from .modelcard import write_model_card
    from .report import draw_report
    from .state import RunState

    state = RunState(args.run)
    state.label_set()  # a clear error for a folder that is not a run
    paths = draw_report(args.run)
    if (state.root / "final" / "final.json").is_file():
        paths.append(write_model_card(args.run))
    for path in paths:
        print(f"wrote {path}")
    return 0 if paths else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    try:
        if args.command == "run":
            return cmd_run(args, None)
        if args.command == "run-round":
            return cmd_run(args, 1)
        commands = {"predict": cmd_predict, "evaluate": cmd_evaluate, "review": cmd_review,
                    "add-labels": cmd_add_labels, "report": cmd_report}
        return commands[args.command](args)
    except PseudolabelError as exc:
        print(f"pseudolabel: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        # a write outside the run folder's checked writes (the labeling scratch file, the adapted
        # encoder): the next run removes its partial files, as after a kill
        print(f"pseudolabel: error: {exc.filename or 'a file'}: {exc.strerror}; finished rounds are kept: free some "
              "space (or make the folder writable) and run the same command again to resume", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pseudolabel: interrupted; finished rounds are kept, run the same command to resume", file=sys.stderr)
        return 130
