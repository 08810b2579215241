"""``orchestra plugin new``: generate a separately installable plugin package (templates in
:mod:`._scaffold`)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import __version__
from ._scaffold import KINDS, plugin_names, render

__all__ = ("plugin",)


@click.group()
def plugin() -> None:
    """Write plugins: ``orchestra plugin new NAME``."""


@plugin.command("new")
@click.argument("name")
@click.option("--kind", type=click.Choice(list(KINDS)), default="integration",
              show_default=True,
              help="What the plugin provides: " + "; ".join(f"{k}: {v}"
                                                           for k, v in KINDS.items()) + ".")
@click.option("--directory", "-d", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True,
              help="Where to create the package's directory (orchestra-NAME).")
@click.option("--description", default=None, help="One line saying what it is for.")
def new(name: str, kind: str, directory: Path, description: str | None) -> None:
    """Create orchestra-NAME/: a plugin package with its hooks, a connection spec, a
    simulator, the core's contract tests wired, a README, an example pipeline and a
    pyproject with the ``orchestra`` entry point. Its tests pass as generated, and
    ``orchestra run pipeline.yaml --simulate`` runs it once it is installed."""
    names = plugin_names(name, __version__)
    if names is None:
        raise click.BadParameter(
            f"{name!r} is not a plugin name: use lower-case letters, digits and single "
            "'_' or '-' between them, starting with a letter (e.g. acme or acme-jobs)",
            param_hint="NAME")
    target = directory / names["dist"]
    if target.exists() and any(target.iterdir()):
        raise click.ClickException(f"{target} exists and is not empty; choose another "
                                   "name or --directory")
    what = description or {"integration": f"run {names['title']} jobs",
                           "destination": f"deliver rows to {names['title']}",
                           "channel": f"send notifications to {names['title']}"}[kind]
    written = render(kind, names, target, what)
    click.echo(f"created {target}/ ({kind}, {len(written)} files):")
    for path in written:
        click.echo(f"  {path.relative_to(target)}")
    click.echo(f"""next:
  cd {target}
  uv pip install -e '.[test]'     # or, in a uv project: uv add --editable {target}
  pytest
  orchestra run pipeline.yaml --simulate""")
