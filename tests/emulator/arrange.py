"""A world with one of everything, made through the public API, and call arguments.

`arrange()` gives the linked account `acme` a published workflow triggered by an event,
a config, executions (one completed, one running), a webhook, a table with a record, a
dataref, a variable value, an MCP server, a schedule, a human task and credentials.
`arguments_for()` fills any operation's required arguments from what was made.
"""

from __future__ import annotations

import inspect
from typing import Any

import attrs

from refold_async import AsyncRefold
from refold_async._operation import Operation
from refold_async.testing import Emulator, FakeClock

from .conftest import ACCOUNT

EVENT = "order.created"


@attrs.frozen(kw_only=True)
class Arranged:
    """Ids of what `arrange()` made."""

    event_id: str
    workflow_id: str
    config_id: str
    execution_id: str
    running_execution_id: str
    webhook_id: str
    table_id: str
    record_id: str
    dataref: str
    definition_id: str
    value_id: str
    mcp_server_id: str
    schedule_id: str
    human_task_id: str


async def _executions(client: AsyncRefold, clock: FakeClock) -> tuple[str, str]:
    await client.events.trigger(event=EVENT, linked_account_id=ACCOUNT)
    clock.advance(5.0)
    await client.events.trigger(event=EVENT, linked_account_id=ACCOUNT)
    page = await client.executions.list(linked_account_id=ACCOUNT, sort_asc=True)
    done, running = page.items
    return str(done.id), str(running.id)


async def _workflow(client: AsyncRefold) -> str:
    created = await client.workflows.create(
        body={
            "name": "Sync orders",
            "slug": "slack",
            "nodes": [{"type": "trigger", "event": EVENT}],
        },
        linked_account_id=ACCOUNT,
    )
    workflow_id = str(created.workflow.id)  # type: ignore[union-attr]
    await client.for_linked_account(ACCOUNT).workflows.publish(
        workflow_id=workflow_id, published=True
    )
    return workflow_id


async def _table(client: AsyncRefold) -> tuple[str, str]:
    table = await client.tables.create(
        table_name="orders",
        columns=[{"column_name": "name"}, {"column_name": "extra"}],
        linked_account_id=ACCOUNT,
    )
    added = await client.tables.add_records(
        table_id=str(table.table_id), data={"name": "first"}, linked_account_id=ACCOUNT
    )
    return str(table.table_id), str(added.add_record_result[0]["_id"])  # type: ignore[index]


async def arrange(emulator: Emulator, client: AsyncRefold, clock: FakeClock) -> Arranged:
    """Make one of everything for `acme`, through `client` (a key client)."""
    events = await client.events.create(name=EVENT, response="ok")
    workflow_id = await _workflow(client)
    config = await client.configs.install(slug="slack", linked_account_id=ACCOUNT)
    done, running = await _executions(client, clock)
    webhook = await client.webhooks.create(
        webhook_url="https://example.invalid/hook", webhook_events=["Connection Created"]
    )
    table_id, record_id = await _table(client)
    await client.datarefs.create(ref_name="countries", linked_account_id=ACCOUNT)
    definitions = await client.environment_variables.list_definitions()
    definition_id = str(definitions.items[0].id)
    value = await client.environment_variables.set_value(
        variable_definition_id=definition_id, value="5", linked_account_id=ACCOUNT
    )
    mcp = await client.mcp_servers.create(
        name="Helper", description="helps", linked_account_id=ACCOUNT
    )
    schedule = await client.schedules.create(
        slug="slack", workflow_id_alias=workflow_id, config_id=str(config.config_id), trigger_type="cron",
        regex="0 * * * *", linked_account_id=ACCOUNT,
    )  # fmt: skip
    await client.credentials.upsert_default(
        key="client_secret", value="s3cret", linked_account_id=ACCOUNT
    )
    await client.credentials.save_key_credentials(
        slug="stripe", body={"api_key": "sk_x"}, linked_account_id=ACCOUNT
    )
    return Arranged(
        event_id=str(events[0].id), workflow_id=workflow_id, config_id=str(config.config_id),
        execution_id=done, running_execution_id=running, webhook_id=str(webhook.id), table_id=table_id,
        record_id=record_id, dataref="countries", definition_id=definition_id, value_id=str(value.id),
        mcp_server_id=str(mcp.id), schedule_id=str(schedule.id), human_task_id=str(emulator.add_human_task()["_id"]),
    )  # fmt: skip


def _values(a: Arranged) -> dict[str, Any]:
    return {
        "slug": "slack", "linked_account_id": ACCOUNT, "query_linked_account_id": ACCOUNT,
        "key": "client_secret", "value": "v", "field_id": "channel", "config_id": a.config_id,
        "workflow_id": a.workflow_id, "execution_id": a.execution_id, "node_id": "node-1",
        "ref_name": a.dataref, "ref_names": [a.dataref], "table_id": a.table_id, "table_ids": [a.table_id],
        "record_id": a.record_id, "columns": ["extra"], "renames": [{"old_name": "extra", "new_name": "more"}],
        "data": {"name": "second"}, "event_id": a.event_id, "name": "n", "response": "ok",
        "mcp_server_id": a.mcp_server_id, "schedule_id": a.schedule_id, "definition_id": a.definition_id,
        "variable_definition_id": a.definition_id, "value_id": a.value_id, "scope": "linked_account",
        "webhook_url": "https://example.invalid/other", "webhook_events": ["Connection Deleted"],
        "webhook_ids": [a.webhook_id], "action_id": "send_message", "datastore_name": "channels",
        "enabled": True, "published": True, "trigger_type": "interval", "workflow_id_alias": a.workflow_id,
        "auth_object": {"access_token": "t"}, "rule_column": {"name": "c"}, "body": {},
        "description": "d", "table_name": "more_orders", "event": EVENT,
    }  # fmt: skip


def _overrides(a: Arranged) -> dict[str, dict[str, Any]]:
    return {
        "createPersistentTable": {"columns": [{"column_name": "name"}]},
        "createLinkedAccount": {"linked_account_id": "globex", "name": "Globex"},
        "upsertLinkedAccount": {"linked_account_id": ACCOUNT, "name": "Acme Corp"},
        "createEvent": {"name": "order.shipped"}, "createDataref": {"ref_name": "regions"},
        "getWebhookById": {"id": a.webhook_id}, "updateWebhook": {"id": a.webhook_id},
        "deleteWebhook": {"id": a.webhook_id}, "getHumanTask": {"id": a.human_task_id},
        "submitHumanTask": {"id": a.human_task_id, "data": {"approved": True}},
        "getVariableDefinition": {"id": a.definition_id},
        "getVariableValue": {"linked_account_id": ACCOUNT},
        "stopExecution": {"execution_id": a.running_execution_id},
        "deleteIntegration": {"slug": "stripe"}, "saveKeyBasedAppCredentials": {"body": {"api_key": "k"}},
        "createWorkflow": {"body": {"name": "Another"}},
        "triggerEvent": {"event": EVENT}, "triggerEventBySlug": {"event": EVENT},
        "createMcpServer": {"name": "Other"},
        "executeWorkflow": {"sync_execution": True, "body": {"x": 1}},
    }  # fmt: skip


def arguments_for(op: Operation[Any], method: Any, arranged: Arranged) -> dict[str, Any]:
    """Keyword arguments for `method`: every required one, plus the operation's extras."""
    values = _values(arranged)
    extras = _overrides(arranged).get(op.id, {})
    kwargs: dict[str, Any] = {}
    for name, param in inspect.signature(method).parameters.items():
        if name in extras:
            kwargs[name] = extras[name]
        elif param.default is inspect.Parameter.empty and param.kind is not param.VAR_KEYWORD:
            kwargs[name] = values[name]
    return kwargs
