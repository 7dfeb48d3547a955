"""`edgedistill serve-demo BUNDLE`: the browser demo (web_demo/) and one bundle, over HTTP.

The page runs the bundle in the browser (ONNX Runtime Web, WebAssembly); this server only hands
out files, so it needs the standard library and click, never torch or onnxruntime. The page does
the bundle checks the Python runtime does (format version, SHA-256 of every file, vocabulary,
output shape); the server refuses up front only what would leave the page nothing to load.
"""

from __future__ import annotations

import json
import os
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click

from edgedistill.errors import EdgedistillError

WEB_DIR = Path(__file__).resolve().parents[1] / "web_demo"
ORT_WEB = Path("node_modules") / "onnxruntime-web" / "dist" / "ort.wasm.min.mjs"
MANIFEST_NAME = "edgedistill.json"  # runtime/bundle.py's name; the runtime is not imported here
SHOWN_TASKS = ("sequence-classification", "token-classification")


def check_web_dir(web_dir: Path = WEB_DIR) -> None:
    """The page and its onnxruntime-web are there, or one sentence saying how to get them."""
    if not (web_dir / "index.html").is_file():
        raise EdgedistillError(f"the browser demo is not at {web_dir}; serve-demo runs from a source "
                               f"checkout of edgedistill (pip install -e .)")
    if not (web_dir / ORT_WEB).is_file():
        raise EdgedistillError(f"onnxruntime-web is not installed in {web_dir / 'node_modules'}; run "
                               f"`make web-demo` (npm ci in web_demo/, needs Node.js and npm)")


def bundle_files(bundle: Path) -> dict[str, Path]:
    """The files the page may fetch from ``bundle``: the manifest and each file it lists."""
    if not bundle.is_dir():
        raise EdgedistillError(f"bundle {bundle} is not a directory")
    manifest_path = bundle / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EdgedistillError(f"bundle {bundle} has no {MANIFEST_NAME}, so it is not an edgedistill "
                               f"bundle") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EdgedistillError(f"{manifest_path} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise EdgedistillError(f"{manifest_path} must be a JSON object with a \"files\" object")
    if manifest.get("task") not in SHOWN_TASKS:
        raise EdgedistillError(f"bundle {bundle} is a {manifest.get('task')!r} model; the browser demo "
                               f"shows {' and '.join(SHOWN_TASKS)}")
    root = bundle.resolve()
    files = {MANIFEST_NAME: manifest_path}
    for name in manifest["files"]:
        path = (root / str(name)).resolve()
        if root not in path.parents or not path.is_file():
            raise EdgedistillError(f"bundle {bundle} lists {name!r}, which is not a file inside the bundle")
        files[str(name)] = path
    return files


class _Handler(SimpleHTTPRequestHandler):
    """Static files from ``directory``; under each mount prefix, only the files it names."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript",
                      ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json"}

    def __init__(self, *args, mounts: dict[str, dict[str, Path]], **kwargs):
        self.mounts = mounts
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        route = unquote(urlsplit(path).path)
        for prefix, files in self.mounts.items():
            if route.startswith(prefix):
                found = files.get(route[len(prefix):])
                return str(found) if found else os.devnull + "/absent"
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")  # a re-exported bundle shows at the next reload
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


def make_server(mounts: dict[str, dict[str, Path]], *, host: str = "127.0.0.1", port: int = 0,
                web_dir: Path = WEB_DIR) -> ThreadingHTTPServer:
    """A server for ``web_dir`` plus ``mounts`` ({"/bundle/": {name: path}}); port 0 picks a free one."""
    handler = partial(_Handler, directory=str(web_dir), mounts=mounts)
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise EdgedistillError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


@click.command("serve-demo")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 to open the page from a phone on the same network).")
@click.option("--json", "as_json", is_flag=True, help="Print the URL and the served files as JSON.")
def serve_demo(bundle: Path, port: int, host: str, as_json: bool) -> None:
    """Serve the browser demo with BUNDLE and print the URL to open.

    The page runs the bundle in the browser (ONNX Runtime Web, WebAssembly, one thread): it
    tokenizes as the Python runtime does, classifies or tags what you type, and shows the model's
    size and the latency measured in that browser. Stop with Ctrl+C.
    """
    check_web_dir()
    files = bundle_files(bundle)
    server = make_server({"/bundle/": files}, host=host, port=port)
    url = server_url(server)
    if as_json:
        click.echo(json.dumps({"url": url, "bundle": str(bundle), "files": sorted(files)}))
    else:
        click.echo(f"Serving the browser demo with {bundle} at {url} (Ctrl+C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS = [serve_demo]
