"""Plug-ins: modules named in ``MVT_PLUGINS`` that register a study kind or a platform when imported.

``MVT_PLUGINS=labkind,lab.panel`` imports ``labkind`` and ``lab.panel`` (comma-separated module
names on ``sys.path``) before the ``mvt`` command builds its commands (`cli`) and before the
server builds its routes (`app.main`). A plug-in module calls `studies.register_kind` or
`platforms.register_platform` at import; nothing else in the project needs to change.
"""

from __future__ import annotations

import importlib
import os

from kernel.errors import PluginError


def plugin_names(value: str | None = None) -> list[str]:
    """The module names in ``value``; default ``MVT_PLUGINS`` from the environment, else from ``.env``
    in the current folder (the rule `kernel.settings.Settings` follows; read here without the other
    settings, which the commands check when they run)."""
    if value is None:
        value = os.environ.get("MVT_PLUGINS")
    if value is None and os.path.isfile(".env"):
        from dotenv import dotenv_values

        value = dotenv_values(".env").get("MVT_PLUGINS")
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def load_plugins(value: str | None = None) -> list[str]:
    """Import every plug-in module (once; importing twice is harmless) and return their names.

    Raises `PluginError` naming the module and why, so a misspelt plug-in stops start-up with
    one line instead of a study kind silently missing.
    """
    names = plugin_names(value)
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise PluginError(f"MVT_PLUGINS names {name!r}, which cannot be imported: {exc}") from None
    return names
