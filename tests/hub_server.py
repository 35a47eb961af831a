"""A fake Hugging Face Hub on 127.0.0.1, so the registry is tested with the real client.

It speaks the part of the Hub's HTTP API that ``huggingface_hub`` 2.4 uses to create a repo,
commit files (preupload, the LFS batch API with a basic PUT transfer, the NDJSON commit),
describe revisions and paths, and serve files (``/{repo}/resolve/{revision}/{path}``, with
the ``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag`` and ``X-Linked-Size`` headers that
``hf_hub_download`` reads). Commits are kept in memory with real-looking 40-hex ids and
parents, so branches move, old commits stay readable and ``parentCommit`` is checked (a
stale one gets the Hub's 412).

Faults for tests: `FakeHub.fail` answers the next requests with an error status,
`FakeHub.stall` holds requests whose path contains a string until released, and
`FakeHub.tamper` serves other bytes (same length) for a file.

`serve` starts one and points both the client and this process's ``huggingface_hub`` at it
(environment for subprocesses, module constants for this process, which read the
environment only at import time).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

# Files the Hub would store with git-LFS (as its default .gitattributes does).
LFS_SUFFIXES = (".safetensors", ".png", ".onnx", ".bin", ".npy")
GITATTRIBUTES = b"".join(
    f"*{s} filter=lfs diff=lfs merge=lfs -text\n".encode() for s in LFS_SUFFIXES
)


@dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool

    @property
    def git_oid(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_oid


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    date: str
    tree: dict[str, Blob]
    changed: frozenset[str]


@dataclass
class Repo:
    repo_id: str
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    lfs: dict[str, bytes] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        oid = self.branches.get(revision, revision)
        return self.commits.get(oid)

    def commit(self, branch: str, title: str, tree: dict[str, Blob], changed: set[str]) -> Commit:
        parent = self.branches.get(branch)
        seed = json.dumps(
            [parent, title, sorted((p, b.git_oid) for p, b in tree.items()), len(self.commits)]
        )
        oid = hashlib.sha1(seed.encode()).hexdigest()
        date = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        commit = Commit(oid, parent, title, date, dict(tree), frozenset(changed))
        self.commits[oid] = commit
        self.branches[branch] = oid
        return commit

    def last_commit(self, head: Commit, path: str) -> Commit:
        """The newest commit at or before ``head`` that changed ``path``."""
        commit = head
        while path not in commit.changed and commit.parent is not None:
            commit = self.commits[commit.parent]
        return commit


class HubError(Exception):
    """An error answer: HTTP status, message and the ``X-Error-Code`` the client maps."""

    def __init__(self, status: int, message: str, code: str | None = None, commit: str = ""):
        super().__init__(message)
        self.status, self.message, self.code, self.commit = status, message, code, commit


class FakeHub:
    """The server's state and its fault switches; ``url`` is its endpoint."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str]] = []
        self._failures: list[int] = []
        self._stalls: dict[tuple[str | None, str], threading.Event] = {}
        self._tampered: dict[tuple[str, str], tuple[bytes, int | None]] = {}
        self._closing = threading.Event()
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        for event in self._stalls.values():
            event.set()
        self.server.shutdown()
        self.server.server_close()

    # -- fault switches ------------------------------------------------------------------

    def fail(self, times: int, status: int = 500) -> None:
        """Answer the next ``times`` requests with ``status``."""
        with self.lock:
            self._failures.extend([status] * times)

    def stall(self, path_contains: str, method: str | None = None) -> threading.Event:
        """Hold requests (of ``method``, or any) whose path contains ``path_contains`` until
        the returned event is set."""
        event = threading.Event()
        self._stalls[(method, path_contains)] = event
        return event

    def tamper(self, repo_id: str, path: str, times: int | None = None) -> None:
        """Serve ``path`` (at any revision) with one byte flipped, ``times`` times or always."""
        with self.lock:
            repo = self.repos[repo_id]
            data = repo.resolve("main").tree[path].data  # type: ignore[union-attr]
            bad = bytes([data[0] ^ 0xFF]) + data[1:]
            self._tampered[(repo_id, path)] = (bad, times)

    def count(self, method: str, path_contains: str) -> int:
        return sum(1 for m, p in self.requests if m == method and path_contains in p)

    # -- direct access for tests ---------------------------------------------------------

    def head(self, repo_id: str, branch: str = "main") -> str:
        return self.repos[repo_id].branches[branch]

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        commit = self.repos[repo_id].resolve(revision)
        assert commit is not None
        return {p: b.data for p, b in commit.tree.items()}

    def push(self, repo_id: str, files: dict[str, bytes], title: str = "outside change") -> str:
        """Commit ``files`` to main as someone else would (e.g. a concurrent publish)."""
        with self.lock:
            repo = self.repos[repo_id]
            tree = dict(repo.resolve("main").tree)  # type: ignore[union-attr]
            for path, data in files.items():
                tree[path] = Blob(data, path.endswith(LFS_SUFFIXES))
            return repo.commit("main", title, tree, set(files)).oid

    # -- request dispatch ----------------------------------------------------------------

    def _stalled(self, method: str, path: str) -> None:
        for (verb, needle), event in list(self._stalls.items()):
            if needle in path and verb in (None, method):
                event.wait(timeout=60)

    def _take_failure(self) -> int | None:
        with self.lock:
            return self._failures.pop(0) if self._failures else None

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple:
        """Return (status, headers, body) for one request."""
        self.requests.append((method, path))
        self._stalled(method, path)
        failure = self._take_failure()
        if failure is not None:
            return failure, {}, json.dumps({"error": "injected failure"}).encode()
        routes = [
            ("POST", r"/api/repos/create", self._create_repo),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?", self._info),
            (
                "POST",
                r"/api/models/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)",
                self._preupload,
            ),
            ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/]+)", self._commit),
            ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/paths-info/(?P<rev>[^/]+)", self._paths),
            ("POST", r"/(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch", self._lfs_batch),
            ("PUT", r"/_lfs/(?P<repo>[^/]+/[^/]+)/(?P<oid>[0-9a-f]{64})", self._lfs_put),
            ("POST", r"/_lfs/(?P<repo>[^/]+/[^/]+)/(?P<oid>[0-9a-f]{64})/verify", self._lfs_verify),
            ("HEAD", r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self._resolve),
            ("GET", r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self._resolve),
        ]
        for verb, pattern, route in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                try:
                    with self.lock:
                        return route(method=method, query=query, body=body, **args)
                except HubError as exc:
                    headers = {"X-Error-Message": exc.message}
                    if exc.code:
                        headers["X-Error-Code"] = exc.code
                    if exc.commit:
                        headers["X-Repo-Commit"] = exc.commit
                    return exc.status, headers, json.dumps({"error": exc.message}).encode()
        return 404, {}, json.dumps({"error": f"no route for {method} {path}"}).encode()

    def _repo(self, repo: str) -> Repo:
        if repo not in self.repos:
            raise HubError(404, "Repository not found", "RepoNotFound")
        return self.repos[repo]

    def _revision(self, repo: Repo, rev: str) -> Commit:
        commit = repo.resolve(rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return commit

    # -- routes --------------------------------------------------------------------------

    def _create_repo(self, body: bytes, **_: Any) -> tuple:
        payload = json.loads(body)
        repo_id = f"{payload['organization']}/{payload['name']}"
        if repo_id in self.repos:
            body = {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}
            return _json(409, body)
        repo = self.repos[repo_id] = Repo(repo_id)
        repo.commit("main", "initial commit", {".gitattributes": Blob(GITATTRIBUTES, False)}, set())
        return _json(200, {"url": f"{self.url}/{repo_id}", "name": repo_id})

    def _info(self, repo: str, rev: str = "main", **_: Any) -> tuple:
        commit = self._revision(self._repo(repo), rev)
        siblings = [{"rfilename": p} for p in sorted(commit.tree)]
        return _json(200, {"id": repo, "sha": commit.oid, "private": False, "siblings": siblings})

    def _preupload(self, repo: str, rev: str, body: bytes, **_: Any) -> tuple:
        commit = self._revision(self._repo(repo), rev)
        files = []
        for item in json.loads(body)["files"]:
            lfs = item["path"].endswith(LFS_SUFFIXES) or item["size"] > 10_000_000
            old = commit.tree.get(item["path"])
            files.append(
                {
                    "path": item["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": None if old is None else old.etag,
                }
            )
        return _json(200, {"files": files})

    def _lfs_batch(self, repo: str, body: bytes, **_: Any) -> tuple:
        store = self._repo(repo).lfs
        objects = []
        for obj in json.loads(body)["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in store:
                href = f"{self.url}/_lfs/{repo}/{obj['oid']}"
                entry["actions"] = {"upload": {"href": href}, "verify": {"href": f"{href}/verify"}}
            objects.append(entry)
        return _json(200, {"transfer": "basic", "objects": objects})

    def _lfs_put(self, repo: str, oid: str, body: bytes, **_: Any) -> tuple:
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, "uploaded content does not match its oid")
        self._repo(repo).lfs[oid] = body
        return 200, {}, b""

    def _lfs_verify(self, repo: str, oid: str, **_: Any) -> tuple:
        if oid not in self._repo(repo).lfs:
            raise HubError(404, f"LFS object {oid} was not uploaded")
        return _json(200, {"success": True})

    def _commit(self, repo: str, rev: str, body: bytes, **_: Any) -> tuple:
        r = self._repo(repo)
        head = self._revision(r, rev)
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        parent = header.get("parentCommit")
        if parent is not None and not head.oid.startswith(parent):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        tree, changed = dict(head.tree), set()
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "file":
                tree[value["path"]] = Blob(base64.b64decode(value["content"]), False)
            elif key == "lfsFile":
                if value["oid"] not in r.lfs:
                    raise HubError(400, f"LFS file {value['path']} was not uploaded")
                tree[value["path"]] = Blob(r.lfs[value["oid"]], True)
            elif key == "deletedFile":
                tree.pop(value["path"], None)
            elif key == "deletedFolder":
                tree = {p: b for p, b in tree.items() if not p.startswith(value["path"] + "/")}
            elif key != "header":
                raise HubError(400, f"unknown commit operation {key!r}")
            if key != "header":
                changed.add(value["path"])
        branch = rev if rev in r.branches else "main"
        commit = r.commit(branch, header["summary"], tree, changed)
        url = f"{self.url}/{repo}/commit/{commit.oid}"
        return _json(200, {"commitUrl": url, "commitOid": commit.oid, "pullRequestUrl": None})

    def _paths(self, repo: str, rev: str, body: bytes, **_: Any) -> tuple:
        r = self._repo(repo)
        head = self._revision(r, rev)
        form = parse_qs(body.decode())
        expand = form.get("expand", ["false"])[0].lower() == "true"
        out = []
        for path in form.get("paths", []):
            blob = head.tree.get(path)
            if blob is None:
                continue
            info: dict[str, Any] = {"type": "file", "path": path, "size": len(blob.data)}
            info["oid"] = blob.git_oid
            if blob.lfs:
                info["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": 134}
            if expand:
                last = r.last_commit(head, path)
                info["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
            out.append(info)
        return _json(200, out)

    def _resolve(self, method: str, repo: str, rev: str, file: str, **_: Any) -> tuple:
        commit = self._revision(self._repo(repo), rev)
        blob = commit.tree.get(file)
        if blob is None:
            raise HubError(404, "Entry not found", "EntryNotFound", commit=commit.oid)
        data = blob.data
        tampered = self._tampered.get((repo, file))
        if tampered is not None and method == "GET":
            data, times = tampered
            if times is not None:
                if times <= 1:
                    del self._tampered[(repo, file)]
                else:
                    self._tampered[(repo, file)] = (data, times - 1)
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{blob.etag}"'}
        if blob.lfs:
            headers["X-Linked-Etag"] = f'"{blob.sha256}"'
            headers["X-Linked-Size"] = str(len(blob.data))
        return 200, headers, data


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that gave up (time-out tests, killed pulls) are not errors of the server."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _json(status: int, payload: Any) -> tuple:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self) -> None:
            url = urlsplit(self.path)
            body = self._body() if self.command in ("POST", "PUT") else b""
            status, headers, payload = hub.handle(self.command, url.path, parse_qs(url.query), body)
            if hub._closing.is_set():
                return
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_HEAD = do_POST = do_PUT = _serve

    return Handler


@contextmanager
def serve(monkeypatch: pytest.MonkeyPatch, home: Path, timeout: float = 5) -> Iterator[FakeHub]:
    """Run a fake Hub and point ``huggingface_hub`` at it, online, without xet or telemetry.

    ``home`` becomes HF_HOME, so no token or cache of the user's is read. The environment
    reaches subprocesses; the module constants are set too because ``huggingface_hub``
    reads its environment once, at import. Back-off is shortened so failure tests are quick.
    """
    from huggingface_hub import constants

    hub = FakeHub().start()
    env = {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(home),
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_ETAG_TIMEOUT": str(int(timeout)),
        "HF_HUB_DOWNLOAD_TIMEOUT": str(int(timeout)),
        "SSMHUB_HUB_BACKOFF": "0.05",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("SSMHUB_OFFLINE", raising=False)
    for name, value in {
        "ENDPOINT": hub.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_ETAG_TIMEOUT": int(timeout),
        "HF_HUB_DOWNLOAD_TIMEOUT": int(timeout),
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_TOKEN_PATH": str(home / "token"),
    }.items():
        monkeypatch.setattr(constants, name, value)
    try:
        yield hub
    finally:
        hub.stop()
