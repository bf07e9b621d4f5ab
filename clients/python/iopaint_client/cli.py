"""Command line of the client: `python -m iopaint_client` / `iopaint-client`.

    iopaint-client health [--wait 120]
    iopaint-client remove in.png -o out.png --regions '[{"x":10,"y":10,"width":80,"height":20}]'
    iopaint-client remove in.png -o out.png --detect
    iopaint-client replace in.png --lines lines.json -o out.png [--json]
    iopaint-client fonts
    iopaint-client download --model lama [--dir DIR]

The service is IOPAINT_URL (default http://localhost:8081) or --url; the key IOPAINT_API_KEY or
--api-key. Exit codes: 0 ok, 1 service error (or a task that failed), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from ._version import __version__
from .aio import AsyncClient
from .client import Client
from .errors import ClientError, ServiceError, TaskFailed
from .models import ProgressEvent

EXIT_OK, EXIT_SERVICE, EXIT_USAGE = 0, 1, 2

DOCKER_DOWNLOAD = "docker compose run --rm iopaint download --model {model}"


class UsageError(Exception):
    pass


def _err(msg: str) -> None:
    print(f"iopaint-client: {msg}", file=sys.stderr)


# --- argument helpers ----------------------------------------------------------------------


def _json_option(option: str, value: str, *, files: bool = False) -> Any:
    """An option's JSON: from @file, @- (stdin), a bare file name (with `files`), or the text itself."""
    if value.startswith("@") or (files and Path(value).is_file()):
        src = value[1:] if value.startswith("@") else value
        try:
            text = sys.stdin.read() if src == "-" else Path(src).read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"{option}: cannot read {src}: {e.strerror or e}") from None
    elif files and not value.lstrip().startswith(("[", "{")):
        raise UsageError(f"{option}: no such file: {value}")
    else:
        text = value
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{option} is not valid JSON: {e}") from None


def load_regions(value: str) -> List[Any]:
    """--regions: JSON text, @file, or @- (stdin); a list of regions or {"regions": [...]}."""
    data = _json_option("--regions", value)
    if isinstance(data, dict):
        data = data.get("regions", [data] if data else [])
    if not isinstance(data, list) or not all(isinstance(r, (dict, list)) for r in data):
        raise UsageError("--regions must be a JSON list of regions, or {\"regions\": [...]}")
    return data


def load_lines(value: str) -> List[Any]:
    """--lines: a JSON file, @file, @- (stdin) or JSON text; a list of lines or {"lines": [...]}."""
    data = _json_option("--lines", value, files=True)
    if isinstance(data, dict):
        data = data.get("lines", [data] if data else [])
    if not isinstance(data, list) or not data or not all(isinstance(ln, dict) for ln in data):
        raise UsageError('--lines must hold a non-empty JSON list of lines ({"region": ..., "text": ...}), '
                         'or {"lines": [...]}')
    return data


_FORMAT_BY_SUFFIX = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}


def output_format(fmt: Optional[str], out: str) -> str:
    if fmt:
        return fmt
    return _FORMAT_BY_SUFFIX.get(Path(out).suffix.lower(), "png")


class _Bar:
    """A progress bar fed by progress events: tqdm when available, else a one-line bar."""

    def __init__(self, enabled: bool, desc: str):
        self.enabled = enabled
        self.n = 0.0
        self._tqdm = None
        if not enabled:
            return
        try:
            from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]  # optional, untyped

            self._tqdm = tqdm(total=100, desc=desc, unit="%", file=sys.stderr, dynamic_ncols=True,
                              bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")
        except ImportError:
            self.desc = desc

    def update(self, ev: ProgressEvent) -> None:
        pct = ev.percent
        if pct is None or not self.enabled:
            return
        pct = max(self.n, min(100.0, float(pct)))
        if self._tqdm is not None:
            self._tqdm.update(pct - self.n)
            if ev.stage:
                self._tqdm.set_postfix_str(ev.stage, refresh=False)
            self._tqdm.refresh()
        else:
            filled = int(pct / 100 * 30)
            sys.stderr.write(f"\r{self.desc}: {pct:5.1f}% [{'#' * filled}{'.' * (30 - filled)}] {ev.stage or ''}   ")
            sys.stderr.flush()
        self.n = pct

    def close(self) -> None:
        if not self.enabled:
            return
        if self._tqdm is not None:
            self._tqdm.close()
        else:
            sys.stderr.write("\n")


# --- commands ------------------------------------------------------------------------------


def _client_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    return {"base_url": args.url, "api_key": args.api_key, "timeout": args.timeout,
            "auth": "bearer" if args.bearer else "header", "transport": args.transport}


REDACT_PRESETS = ("email", "phone", "url", "number")


def text_patterns(args: argparse.Namespace) -> Dict[str, Any]:
    """--remove-text, --keep-text and --redact as the service's remove_text / keep_text."""
    remove = list(args.remove_text or [])
    for name in (n.strip().lower() for part in (args.redact or []) for n in part.split(",")):
        if name not in REDACT_PRESETS:
            raise UsageError(f"--redact: no preset {name!r}; choose from {','.join(REDACT_PRESETS)}")
        remove.append(f"@{name}")
    return {"remove_text": remove or None, "keep_text": list(args.keep_text or []) or None}


async def _remove(args: argparse.Namespace) -> int:
    regions = load_regions(args.regions) if args.regions else None
    patterns = text_patterns(args)
    if not regions and not args.mask and not args.detect:
        if not (patterns["remove_text"] or patterns["keep_text"]):
            raise UsageError("remove needs --regions, --mask, --detect, --remove-text, --keep-text or --redact")
        args.detect = True  # patterns choose among the lines found
    image = Path(args.image)
    if not image.is_file():
        raise UsageError(f"no such image: {image}")
    if args.mask and not Path(args.mask).is_file():
        raise UsageError(f"no such mask: {args.mask}")
    params = {"padding": args.padding, "mask_mode": args.mask_mode,
              "output_format": output_format(args.format, args.output), "quality": args.quality}
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    async with AsyncClient(**_client_kwargs(args)) as client:
        sub = await client.submit(image, regions, mask=args.mask, detect=True if args.detect else None,
                                  task_id=args.task_id, **patterns, **params)
        bar = _Bar(show, f"task {sub.task_id[:12]}")
        final = None
        try:
            async for ev in client.progress(sub.task_id, timeout=args.timeout):
                bar.update(ev)
                if ev.is_final:
                    final = ev
        except (KeyboardInterrupt, asyncio.CancelledError):
            try:  # interrupted: the task should not go on using the service's compute
                await asyncio.shield(client.cancel(sub.task_id))
            except Exception:
                pass
            raise
        finally:
            bar.close()
        if final is None or final.type != "task_completed":
            st = await client.task_status(sub.task_id)
            raise TaskFailed(sub.task_id, st.status, st.error)
        result = await client.task_result(sub.task_id)
        lines = (await client.task_status(sub.task_id)).text_lines if any(patterns.values()) else None
    if args.output == "-":
        sys.stdout.buffer.write(result.image)
        sys.stdout.flush()
    else:
        Path(args.output).write_bytes(result.image)
    if not args.quiet:
        where = "stdout" if args.output == "-" else args.output
        print(f"wrote {where} ({len(result.image)} bytes, {result.media_type}, "
              f"{final.total_regions if final.total_regions is not None else '?'} region(s), "
              f"{final.elapsed_time or 0:.2f} s, task {sub.task_id})", file=sys.stderr)
        if lines is not None:
            print(f"text lines: {lines.found} found, {lines.removed} removed, {lines.partly_removed} removed in "
                  f"part, {lines.kept} kept" + (f"; matched no line: {', '.join(lines.unmatched_patterns)}"
                                               if lines.unmatched_patterns else ""), file=sys.stderr)
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    return asyncio.run(_remove(args))


def cmd_health(args: argparse.Namespace) -> int:
    with Client(**_client_kwargs(args)) as client:
        h = client.wait_until_healthy(args.wait) if args.wait else client.health()
    if args.json:
        print(json.dumps(h.model_dump(), indent=2))
    else:
        print(f"{h.status}: {h.message}" + (f" (version {h.version})" if h.version else ""))
    return EXIT_OK if h.healthy else EXIT_SERVICE


def cmd_info(args: argparse.Namespace) -> int:
    with Client(**_client_kwargs(args)) as client:
        print(json.dumps(client.info().model_dump(), indent=2))
    return EXIT_OK


def cmd_detect(args: argparse.Namespace) -> int:
    if not Path(args.image).is_file():
        raise UsageError(f"no such image: {args.image}")
    regions = load_regions(args.regions) if args.regions else None
    with Client(**_client_kwargs(args)) as client:
        found = client.detect_text(Path(args.image), regions, recognize=True if args.recognize else None,
                                   describe=True if args.describe else None)
    print(json.dumps(found.model_dump(), indent=2))
    return EXIT_OK


def _line_report(i: int, size: Optional[float], shrunk: bool, truncated: bool = False) -> str:
    """`line 1: 24 px`, `line 2: 11 px, shrunk to fit`, `line 3: no text (old text removed)`,
    `line 4: 4 px, too long for its box even at 4 px (cut)`."""
    if size is None:
        return f"line {i}: no text (old text removed)"
    if truncated:
        return f"line {i}: {size:g} px, too long for its box even at {size:g} px (cut)"
    return f"line {i}: {size:g} px" + (", shrunk to fit" if shrunk else "")


def cmd_replace(args: argparse.Namespace) -> int:
    image = Path(args.image)
    if not image.is_file():
        raise UsageError(f"no such image: {image}")
    if args.json and args.output:
        raise UsageError("--json prints what was written instead of the image: leave out -o")
    if not args.json and not args.output:
        raise UsageError("replace needs -o OUTPUT (or --json)")
    lines = load_lines(args.lines)
    params = {"padding": args.padding, "mask_mode": args.mask_mode, "quality": args.quality,
              "verify": False if args.no_verify else None,
              "output_format": None if args.json else output_format(args.format, args.output)}
    with Client(**_client_kwargs(args)) as client:
        if args.json:
            print(json.dumps(client.replace_text_json(image, lines, **params).model_dump(), indent=2))
            return EXIT_OK
        result = client.replace_text(image, lines, **params)
    if args.output == "-":
        sys.stdout.buffer.write(result.image)
        sys.stdout.flush()
    else:
        Path(args.output).write_bytes(result.image)
    if not args.quiet:
        report = sys.stderr if args.output == "-" else sys.stdout
        for i, size in enumerate(result.font_sizes, 1):
            shrunk = result.shrunk[i - 1] if i <= len(result.shrunk) else False
            cut = result.truncated[i - 1] if i <= len(result.truncated) else False
            print(_line_report(i, size, shrunk, cut), file=report)
        where = "stdout" if args.output == "-" else args.output
        print(f"wrote {where} ({len(result.image)} bytes, {result.media_type}, {result.lines_written} of "
              f"{len(lines)} line(s) written, {result.processing_time or 0:.2f} s)", file=sys.stderr)
    return EXIT_OK


def cmd_fonts(args: argparse.Namespace) -> int:
    with Client(**_client_kwargs(args)) as client:
        found = client.fonts()
    if args.json:
        print(json.dumps(found.model_dump(), indent=2))
    else:
        for f in found.fonts:
            print(f"{f.family}\t{'bold' if f.bold else 'regular'}\t{f.kind}\t{f.name}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    with Client(**_client_kwargs(args)) as client:
        print(json.dumps(client.task_status(args.task_id).model_dump(exclude_none=True), indent=2))
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    with Client(**_client_kwargs(args)) as client:
        r = client.cancel(args.task_id)
    print(f"{r.task_id}: {r.status} ({r.message})")
    return EXIT_OK


def _app_available() -> bool:
    """Whether the service's own package (`app`, with its CLI) can be imported here."""
    try:
        spec = importlib.util.find_spec("app")
        if spec is None or not spec.submodule_search_locations:
            return False
        return any((Path(loc) / "__main__.py").is_file() and (Path(loc) / "engine").is_dir()
                   for loc in spec.submodule_search_locations)
    except (ImportError, ValueError):
        return False


def cmd_download(args: argparse.Namespace) -> int:
    """Fetch model weights locally with the service's own `python -m app download`."""
    if not _app_available():
        _err("the service package (`app`) is not importable here, so weights cannot be fetched locally.\n"
             "Run the download where the service runs, e.g. in its container:\n"
             f"  {DOCKER_DOWNLOAD.format(model=args.model)}\n"
             "(or, from a checkout of the service: python -m app download --model "
             f"{args.model}{' --dir ' + args.dir if args.dir else ''})")
        return EXIT_SERVICE
    cmd = [sys.executable, "-m", "app", "download", "--model", args.model]
    if args.dir:
        cmd += ["--dir", args.dir]
    if not args.quiet:
        print("running: " + " ".join(cmd), file=sys.stderr)
    rc = subprocess.call(cmd)
    return EXIT_OK if rc == 0 else EXIT_SERVICE


# --- parser --------------------------------------------------------------------------------


def _positive_timeout(v: str) -> float:
    try:
        t = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if t <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return t


def build_parser() -> argparse.ArgumentParser:
    # Connection options work before or after the command: the sub-parsers share them with a
    # SUPPRESS default, so a value given after the command is not reset.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS,
                        help="service URL (env IOPAINT_URL, default http://localhost:8081)")
    common.add_argument("--api-key", default=argparse.SUPPRESS, help="API key (env IOPAINT_API_KEY)")
    common.add_argument("--bearer", action="store_true", default=argparse.SUPPRESS,
                        help="send the key as Authorization: Bearer instead of X-API-Key")
    common.add_argument("--timeout", type=_positive_timeout, default=argparse.SUPPRESS,
                        help="seconds for one request / for a task (default 300)")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no summary lines")
    common.add_argument("--transport", choices=["multipart", "json"], default=argparse.SUPPRESS,
                        help="multipart (default): images as files; json: base64 in JSON bodies")

    p = argparse.ArgumentParser(prog="iopaint-client", parents=[common],
                                description="Client of the IOPaint text-removal service.",
                                epilog="exit codes: 0 ok, 1 service error, 2 usage")
    p.add_argument("--version", action="version", version=f"iopaint-client {__version__}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    r = sub.add_parser("remove", parents=[common], help="remove text from an image (async task, progress bar)")
    r.add_argument("image", help="input image file")
    r.add_argument("-o", "--output", required=True, help="output file ('-' for stdout)")
    r.add_argument("--regions", help="regions as JSON, or @file (@- for stdin)")
    r.add_argument("--mask", help="mask image: white = repaint")
    r.add_argument("--detect", action="store_true", help="find the text with the service's detector")
    r.add_argument("--remove-text", action="append", metavar="PATTERN",
                   help="remove only lines (or parts) matching this RE2 pattern or preset (@email, @phone, @url, "
                        "@number); repeatable; implies --detect without --regions")
    r.add_argument("--keep-text", action="append", metavar="PATTERN",
                   help="never remove lines matching this pattern; repeatable")
    r.add_argument("--redact", action="append", metavar="PRESETS",
                   help=f"remove these presets, comma-separated ({','.join(REDACT_PRESETS)}): --redact email,phone")
    r.add_argument("--padding", type=int, help="pixels each region grows by")
    r.add_argument("--mask-mode", choices=["box", "text"], help="box: whole regions; text: glyph strokes only")
    r.add_argument("--format", choices=["png", "jpeg", "webp", "original"],
                   help="output format (default: from the output's extension, else png)")
    r.add_argument("--quality", type=int, help="JPEG/WebP quality 1-100")
    r.add_argument("--task-id", help="use this task id")
    r.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show the progress bar (default: when stderr is a terminal)")
    r.add_argument("--no-progress", dest="progress", action="store_false")
    r.set_defaults(fn=cmd_remove)

    rp = sub.add_parser("replace", parents=[common], help="rewrite text lines in their own style (replace-text)")
    rp.add_argument("image", help="input image file")
    rp.add_argument("--lines", required=True,
                    help='JSON file of the lines: a list of {"region", "text", "style"?, "align"?} or {"lines": [...]} '
                         "(also @file, @- for stdin, or inline JSON)")
    rp.add_argument("-o", "--output", help="output file ('-' for stdout); not with --json")
    rp.add_argument("--json", action="store_true",
                    help="print what was written per line (font, font_size, shrunk, style) as JSON, no image")
    rp.add_argument("--padding", type=int, help="pixels each line's region grows by")
    rp.add_argument("--mask-mode", choices=["box", "text"], help="box: whole regions; text: glyph strokes only")
    rp.add_argument("--format", choices=["png", "jpeg", "webp", "original"],
                    help="output format (default: from the output's extension, else png)")
    rp.add_argument("--quality", type=int, help="JPEG/WebP quality 1-100")
    rp.add_argument("--no-verify", action="store_true", help="skip the check for old text left behind")
    rp.set_defaults(fn=cmd_replace)

    fo = sub.add_parser("fonts", parents=[common], help="the fonts replace can write in")
    fo.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    fo.set_defaults(fn=cmd_fonts)

    h = sub.add_parser("health", parents=[common], help="service health (exit 0 when healthy)")
    h.add_argument("--wait", type=_positive_timeout, metavar="SECONDS", help="wait up to SECONDS to become healthy")
    h.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    h.set_defaults(fn=cmd_health)

    sub.add_parser("info", parents=[common], help="capabilities and limits (JSON)").set_defaults(fn=cmd_info)

    d = sub.add_parser("detect", parents=[common], help="find text lines (JSON)")
    d.add_argument("image")
    d.add_argument("--regions", help="search only inside these regions (JSON or @file)")
    d.add_argument("--recognize", action="store_true", help="also read each line (text, text_score)")
    d.add_argument("--describe", action="store_true",
                   help="also measure how each line looks (style: colours, outline, shadow, font size, angle, bold)")
    d.set_defaults(fn=cmd_detect)

    s = sub.add_parser("status", parents=[common], help="a task's status (JSON)")
    s.add_argument("task_id")
    s.set_defaults(fn=cmd_status)

    c = sub.add_parser("cancel", parents=[common], help="cancel a task")
    c.add_argument("task_id")
    c.set_defaults(fn=cmd_cancel)

    dl = sub.add_parser("download", parents=[common], help="fetch model weights locally (python -m app download)")
    dl.add_argument("--model", default="lama", help="model name (default lama)")
    dl.add_argument("--dir", help="weights directory (default: the service's IOPAINT_MODEL_DIR)")
    dl.set_defaults(fn=cmd_download)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("url", None), ("api_key", None), ("bearer", False), ("timeout", 300.0), ("quiet", False),
                          ("transport", "multipart")):
        if not hasattr(args, name):
            setattr(args, name, default)
    if not getattr(args, "fn", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.fn(args))
    except UsageError as e:
        _err(str(e))
        return EXIT_USAGE
    except ServiceError as e:
        _err(f"service error {e.status} ({e.code}): {e.detail}")
        return EXIT_SERVICE
    except TaskFailed as e:
        _err(str(e))
        return EXIT_SERVICE
    except ClientError as e:
        _err(str(e))
        return EXIT_SERVICE
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
