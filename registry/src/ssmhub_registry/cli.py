"""The registry's ``ssmhub`` commands: pull, publish, networks, export, import.

Added to the core CLI through the ``register_commands`` hook. Each command imports what it
needs when it runs, so ``ssmhub --help`` never loads huggingface_hub, onnx or JAX.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, get_args

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ssmhub.errors import SsmhubError
from ssmhub.recipe import NetworkKind

if TYPE_CHECKING:
    from ssmhub.network import Accuracy


def console() -> Console:
    """A console made when a command prints, so it reads the terminal's width (and
    ``COLUMNS``) then, not when this module was first imported."""
    return Console(highlight=False)


def say(text: str) -> None:
    """Print plain text: paths and parameter lists hold brackets that are not markup."""
    console().print(text, markup=False)


KindOption = Annotated[str, typer.Option(help="Network kind: lan, cpn or mnle.")]
RepoOption = Annotated[
    str | None,
    typer.Option(help="Registry repo on the Hub, OWNER/NAME (default: $SSMHUB_REGISTRY)."),
]
RevisionOption = Annotated[
    str | None, typer.Option(help="Branch, tag or commit id to read (default: main).")
]


def _kind(kind: str) -> str:
    if kind not in get_args(NetworkKind):
        raise SsmhubError(f"--kind must be 'lan', 'cpn' or 'mnle', got {kind!r}")
    return kind


def pull(
    model: Annotated[str, typer.Argument(help="Model name, e.g. ddm.")],
    kind: KindOption = "lan",
    repo: RepoOption = None,
    revision: RevisionOption = None,
    version: Annotated[
        str | None, typer.Option(help="Published version (default: the newest).")
    ] = None,
) -> None:
    """Download a network from the registry into the cache, checking every sha256."""
    from ssmhub_registry.pull import pull as run

    result = run(model, _kind(kind), repo, revision, version)  # type: ignore[arg-type]
    a = result.artifact
    state = "pulled" if result.downloaded else "already in the cache:"
    say(
        f"{state} {a.model} {a.kind} {a.version} from {result.repo} at commit "
        f"{result.revision} (published in {result.published_in or 'an unknown commit'})"
    )
    table = Table("file", "bytes", "sha256")
    for f in a.files:
        table.add_row(f.name, str(f.size), f.sha256)
    console().print(table)
    say(f"into {result.path}")


def publish(
    run_dir: Annotated[Path, typer.Argument(help="A trained and evaluated network directory.")],
    repo: RepoOption = None,
    version: Annotated[
        str | None, typer.Option(help="Version to publish as (default: the next vN).")
    ] = None,
) -> None:
    """Publish an evaluated network, its card and the updated index in one commit."""
    from ssmhub_registry import hub
    from ssmhub_registry.publish import publish as run

    result = run(run_dir, repo, version)
    a = result.artifact
    say(
        f"published {a.model} {a.kind} {a.version} to {result.repo}: new revision "
        f"{result.commit} (on top of {result.parent[:12]})"
    )
    say(f"{hub.repo_url(result.repo)}/tree/{result.commit}/{a.path}")
    say(
        f"pull it with: ssmhub pull {a.model} --kind {a.kind} --repo {result.repo} "
        f"--revision {result.commit}"
    )


def networks(
    remote: Annotated[bool, typer.Option(help="Also list what the registry offers.")] = False,
    repo: RepoOption = None,
    revision: RevisionOption = None,
) -> None:
    """List the networks available here (cache, plugins), which copy is used and why, and,
    with --remote, what the registry offers."""
    from ssmhub_registry.listing import local_networks, remote_index

    table = Table("model", "kind", "used", "source", "why", "version", "accuracy (median)", "path")
    for n in local_networks():
        table.add_row(
            n.model,
            n.kind,
            "yes" if n.used else "no",
            n.source,
            escape(n.why),
            n.version or "-",
            _accuracy(n.accuracy),
            escape(str(n.path)),
        )
    console().print(table)
    if not remote:
        return
    repo_id, at, index = remote_index(repo, revision)
    table = Table(
        "model",
        "kind",
        "version",
        "commit",
        "error median / p90",
        "ssmhub",
        "plugin",
        title=f"{repo_id} at {at[:12]}",
    )
    for a in index.artifacts:
        acc = a.accuracy
        table.add_row(
            a.model,
            a.kind,
            a.version,
            (a.commit or "-")[:12],
            f"{acc.median_abs_error:.3g} / {acc.p90_abs_error:.3g} {acc.unit}",
            a.requires_ssmhub,
            f"{a.plugin.distribution} {a.plugin.version}",
        )
    console().print(table)


def _accuracy(report: Accuracy | None) -> str:
    return "-" if report is None else f"{report.median_abs_error:.3g} {report.unit}"


def export(
    model: Annotated[str, typer.Argument(help="Model name, e.g. ddm.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    kind: KindOption = "lan",
    format: Annotated[str, typer.Option(help="Export format: onnx.")] = "onnx",
    network: Annotated[
        Path | None,
        typer.Option(help="Network directory (default: the one ssmhub finds for MODEL)."),
    ] = None,
) -> None:
    """Export a LAN in the reference toolbox's ONNX contract (input (1, D), Gemm and Tanh)."""
    import ssmhub
    from ssmhub_registry.onnx_export import export_onnx

    if format != "onnx":
        raise SsmhubError(f"--format {format!r} is not supported; the one format is onnx")
    net = ssmhub.load_network(model, _kind(kind), network)  # type: ignore[arg-type]
    export_onnx(net, output)
    d = len(net.config.inputs)
    say(f"wrote {output}: {model} {kind}, input (1, {d}) = [{', '.join(net.config.inputs)}]")
    if net.config.correction is not None:
        say(
            "the LAN's correction to its CPN (`ssmhub normalise`) is not part of the toolbox "
            "contract: the file holds the LAN without it"
        )


def import_(
    file: Annotated[
        Path, typer.Argument(help="ONNX file of a LAN in the toolbox contract (Gemm and Tanh).")
    ],
    model: Annotated[str, typer.Option(help="The installed model it is a LAN of, e.g. ddm.")],
    out: Annotated[Path, typer.Option(help="New (or empty) directory for the network.")],
    kind: Annotated[str, typer.Option(help="Network kind: lan, the one the contract holds.")] = (
        "lan"
    ),
    box: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=LO,HI: the range of parameter NAME the network was trained on "
            "(repeatable; default: the model's bounds).",
        ),
    ] = None,
) -> None:
    """Import a LAN from an ONNX file in the reference toolbox's contract as a network
    directory."""
    if kind != "lan":
        raise SsmhubError(
            f"--kind {kind!r} cannot be imported: the toolbox's ONNX contract is a per-trial "
            "log-likelihood, so the one kind is lan"
        )
    from ssmhub.plugins import get_model
    from ssmhub_registry.onnx_import import import_onnx, parse_box

    spec = get_model(model)
    result = import_onnx(file, model, out, parse_box(box or [], spec))
    c = result.config
    assert c.imported_from is not None
    say(
        f"wrote {out}: {c.model} lan imported from {file}, input (1, {len(c.inputs)}) = "
        f"[{', '.join(c.inputs)}], hidden {list(c.hidden)} with tanh"
    )
    say(f"source sha256 {c.imported_from.sha256}")
    say("box: " + ", ".join(f"{n} [{lo:g}, {hi:g}]" for n, (lo, hi) in c.box.items()))
    from ssmhub.evaluation import has_reference

    if has_reference(spec):
        say(f"its accuracy is unknown: measure it with `ssmhub evaluate {out}`")
    else:
        say(
            f"its accuracy is unknown, and model {model!r} has no reference likelihood to "
            "measure it against: check it by parameter recovery"
        )


def register(app: typer.Typer) -> None:
    for command in (pull, publish, networks, export):
        app.command()(command)
    app.command("import")(import_)
