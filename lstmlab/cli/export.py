"""`lstmlab export RUN --out FILE.onnx`: a run as a file other runtimes read (lstmlab.export)."""

from __future__ import annotations

import argparse

from ..export import FORMATS, export


def add_parser(sub, parser_class) -> None:
    p = sub.add_parser(
        "export", help="write a run as an ONNX file that onnxruntime (and any ONNX runtime) runs without lstmlab",
        description="Write any run (language model, classifier, forecaster) as an ONNX graph with a dynamic batch "
                    "and, for sequences, a dynamic number of steps, and beside it FILE.json: the vocabulary or "
                    "tokenizer, special ids, the state's names and sizes, a series' scaling, the run's config and "
                    "the lstmlab version. The file is checked in onnxruntime against PyTorch before it is kept; the "
                    "largest difference is printed. Needs the export extra: pip install 'lstmlab[export]'.")
    p.add_argument("run", metavar="RUN", help="a run folder made by lstmlab train, classify train or forecast train")
    p.add_argument("--out", required=True, metavar="FILE.onnx",
                   help="the file to write (its folder must exist); FILE.json goes beside it")
    p.add_argument("--format", default="onnx", choices=FORMATS, help="the file format (default onnx)")


def run(args: argparse.Namespace) -> None:
    print(export(args.run, args.out, format=args.format))
