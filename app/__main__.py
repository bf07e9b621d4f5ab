"""Command line: `python -m app serve` (the default), `python -m app download --model lama`,
`python -m app settings`."""

from __future__ import annotations

import argparse
import os
import sys


def serve(_: argparse.Namespace) -> int:
    """Serve `app.main:app` (the same app, settings and start-up as `python -m uvicorn app.main:app`)
    on IOPAINT_HOST:IOPAINT_PORT."""
    import uvicorn

    from app.main import get_app, load_engine

    app = get_app()
    s = app.state.services.settings
    if s.model_fallback == "none":  # no fallback: load first, and refuse to start in one line
        try:
            load_engine(app.state.services)  # the lifespan's own start-up; it then finds all loaded
        except Exception as e:
            print(f"refusing to start: {e}", file=sys.stderr)
            return 1
    uvicorn.run(app, host=s.host, port=s.port, log_level=s.log_level.lower(), ws_ping_interval=20,
                ws_ping_timeout=20, timeout_graceful_shutdown=int(s.shutdown_grace) + 5, access_log=False)
    return 0


def download(args: argparse.Namespace) -> int:
    """Fetch a model's weights into the cache the service reads (IOPAINT_MODEL_DIR or --dir)."""
    from app.engine.models import apply_model_dir, weights_dir
    from app.settings import get_settings

    if args.dir:
        os.environ["IOPAINT_MODEL_DIR"] = args.dir
    s = get_settings()
    apply_model_dir(s.model_dir)
    name = args.model or s.model
    from iopaint.download import cli_download_model

    try:
        cli_download_model(name)
    except SystemExit:  # IOPaint exits on a checksum mismatch
        print(f"download of {name!r} failed: the file did not match its checksum", file=sys.stderr)
        return 1
    except Exception as e:
        print(f"download of {name!r} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"{name}: weights in {weights_dir()}")
    return 0


def show_settings(_: argparse.Namespace) -> int:
    from pydantic import AliasChoices

    from app.settings import Settings

    s = Settings()
    for name, f in Settings.model_fields.items():
        alias = f.validation_alias
        env = str(alias.choices[0]) if isinstance(alias, AliasChoices) else name.upper()
        value = getattr(s, name)
        if name in ("api_key", "callback_secret") and value:
            value = "(set)"  # a secret is never printed
        print(f"{env:24} = {value!s:30} {f.description or ''}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    sub = p.add_subparsers(dest="cmd")
    sub.add_parser("serve", help="run the service (default)").set_defaults(fn=serve)
    d = sub.add_parser("download", help="pre-fetch a model's weights (needs internet)")
    d.add_argument("--model", help="model name (default: IOPAINT_MODEL)")
    d.add_argument("--dir", help="cache directory (default: IOPAINT_MODEL_DIR or the libraries' own)")
    d.set_defaults(fn=download)
    sub.add_parser("settings", help="print every setting and its value").set_defaults(fn=show_settings)
    args = p.parse_args(argv)
    return getattr(args, "fn", serve)(args)


if __name__ == "__main__":
    sys.exit(main())
