"""The seeded catalogue: a few applications, their auth structures, config fields,
actions and datastores. Every world sees the same catalogue; it never changes.
"""

from __future__ import annotations

from typing import Any

import attrs

from refold_async.testing._http import ApiError

__all__ = ["APPLICATIONS", "Application", "application"]


@attrs.frozen(kw_only=True)
class Application:
    """One application of the catalogue."""

    slug: str
    name: str
    auth_type: str
    auth_fields: tuple[tuple[str, str], ...] = ()
    config_fields: tuple[tuple[str, str], ...] = ()
    actions: tuple[tuple[str, str, str], ...] = ()
    datastores: tuple[str, ...] = ()

    @property
    def app_id(self) -> str:
        return f"app_{self.slug}"

    def item(self) -> dict[str, Any]:
        """The application as `listApplicationsForLinkedAccount` answers it (unconnected)."""
        return {
            "_id": self.app_id,
            "type": "default",
            "slug": self.slug,
            "app_id": self.app_id,
            "name": self.name,
            "icon": f"https://emulator.invalid/icons/{self.slug}.svg",
            "auth_type": self.auth_type,
            "connected": False,
            "connected_accounts": [],
            "reauth_required": False,
        }

    def auth_structure(self) -> dict[str, dict[str, Any]]:
        """`{auth_type: {field: {label, type, required}}}`."""
        fields = {
            name: {"label": label, "type": "text", "required": True}
            for name, label in self.auth_fields
        }
        return {self.auth_type: fields}

    def fields(self) -> list[dict[str, Any]]:
        """Fresh config field documents, without values."""
        return [
            {
                "id": field_id,
                "name": label,
                "field_type": "text",
                "required": False,
                "options": [],
                "value": None,
            }
            for field_id, label in self.config_fields
        ]


APPLICATIONS: dict[str, Application] = {
    app.slug: app
    for app in (
        Application(
            slug="slack",
            name="Slack",
            auth_type="oauth2",
            config_fields=(("channel", "Channel"), ("mention", "Mention users")),
            actions=(
                ("send_message", "Send message", "messages"),
                ("list_channels", "List channels", "channels"),
            ),
            datastores=("channels",),
        ),
        Application(
            slug="hubspot",
            name="HubSpot",
            auth_type="oauth2",
            config_fields=(("pipeline", "Pipeline"), ("owner", "Default owner")),
            actions=(
                ("create_contact", "Create contact", "contacts"),
                ("get_deal", "Get deal", "deals"),
            ),
            datastores=("contacts", "deals"),
        ),
        Application(
            slug="stripe",
            name="Stripe",
            auth_type="keybased",
            auth_fields=(("api_key", "Secret key"),),
            config_fields=(("currency", "Currency"),),
            actions=(("create_customer", "Create customer", "customers"),),
            datastores=("customers",),
        ),
        Application(
            slug="postgres",
            name="PostgreSQL",
            auth_type="keybased",
            auth_fields=(("host", "Host"), ("username", "User"), ("password", "Password")),
            config_fields=(("schema", "Schema"),),
            actions=(("run_query", "Run query", "queries"),),
            datastores=("tables",),
        ),
    )
}


def application(slug: str) -> Application:
    """The catalogue's application, or 404."""
    app = APPLICATIONS.get(slug)
    if app is None:
        raise ApiError(404, f"application {slug!r} not found", "APPLICATION_NOT_FOUND")
    return app
