"""Stateful resources on the emulator: tables, webhooks, configs, schedules, variables,
datarefs, MCP servers, applications and human tasks keep what they were told.
"""

from __future__ import annotations

import pytest

from refold_async import AsyncRefold, ConflictError, NotFoundError
from refold_async.testing import Emulator, FakeClock

from .conftest import ACCOUNT


async def test_tables_keep_records_columns_and_search(client: AsyncRefold) -> None:
    """Records added to a table are listed, searched, survive a column rename, and delete."""
    made = await client.tables.create(
        table_name="orders",
        columns=[{"column_name": "sku"}, {"column_name": "qty"}],
        linked_account_id=ACCOUNT,
    )
    table_id = str(made.table_id)
    again = await client.tables.create(
        table_name="orders", columns=[{"column_name": "sku"}], linked_account_id=ACCOUNT
    )
    assert (again.table_id, again.already_exists) == (table_id, True)
    await client.tables.add_records(
        table_id=table_id,
        data=[{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}],
        linked_account_id=ACCOUNT,
    )
    await client.tables.rename_columns(
        table_id=table_id,
        renames=[{"old_name": "qty", "new_name": "count"}],
        linked_account_id=ACCOUNT,
    )
    found = await client.tables.search(
        table_id=table_id, body={"sku": "B"}, linked_account_id=ACCOUNT
    )
    assert [(r["sku"], r["count"]) for r in found] == [("B", 2)]
    page = await client.tables.list_records(table_id=table_id, linked_account_id=ACCOUNT)
    assert page.total_docs == 2
    assert page.extra_fields["columns"] == ["sku", "count"]
    await client.tables.delete_record(
        table_id=table_id, record_id=str(found[0]["_id"]), linked_account_id=ACCOUNT
    )
    assert (await client.tables.list(linked_account_id=ACCOUNT)).items[0].record_count == 1
    assert await client.tables.delete(table_id=table_id, linked_account_id=ACCOUNT) is True
    with pytest.raises(NotFoundError):
        await client.tables.list_records(table_id=table_id, linked_account_id=ACCOUNT)


async def test_webhooks_crud_and_groups(client: AsyncRefold) -> None:
    """Webhooks are registered, updated, grouped and deleted; deleting answers the rest."""
    one = await client.webhooks.create(
        webhook_url="https://example.invalid/1", webhook_events=["Connection Created"]
    )
    two = await client.webhooks.create(
        webhook_url="https://example.invalid/2", webhook_events=["Workflow Completed"]
    )
    updated = await client.webhooks.update(id=str(one.id), is_enabled=False)
    assert updated.is_enabled is False
    grouped = await client.webhooks.set_group(webhook_ids=[str(one.id), str(two.id)], group="ops")
    assert {w.group for w in grouped} == {"ops"}
    remaining = await client.webhooks.delete(id=str(one.id))
    assert [w.id for w in remaining] == [two.id]
    with pytest.raises(NotFoundError):
        await client.webhooks.retrieve(id=str(one.id))


async def test_config_fields_keep_their_values(client: AsyncRefold) -> None:
    """A config field set through the API reads back, and clears."""
    await client.configs.install(slug="slack", linked_account_id=ACCOUNT)
    field = await client.config_fields.update(
        field_id="channel", slug="slack", value="#ops", linked_account_id=ACCOUNT
    )
    assert field.value == "#ops"
    fields = await client.config_fields.list(slug="slack", linked_account_id=ACCOUNT)
    assert {f.id: f.value for f in fields.fields or []}["channel"] == "#ops"
    cleared = await client.config_fields.delete(
        field_id="channel", slug="slack", linked_account_id=ACCOUNT
    )
    assert cleared.value is None
    await client.configs.delete_default(slug="slack", linked_account_id=ACCOUNT)
    with pytest.raises(NotFoundError):
        await client.configs.retrieve_default(slug="slack", linked_account_id=ACCOUNT)


async def test_schedules_pause_and_resume(client: AsyncRefold) -> None:
    """A schedule is running, pauses (inactive) and resumes."""
    made = await client.schedules.create(
        slug="slack", workflow_id_alias="wf", config_id=ACCOUNT, trigger_type="cron", regex="*/5 * * * *",
        linked_account_id=ACCOUNT,
    )  # fmt: skip
    schedule_id = str(made.id)
    paused = await client.schedules.pause(schedule_id=schedule_id, linked_account_id=ACCOUNT)
    assert (paused.status, paused.inactive) == ("paused", True)
    resumed = await client.schedules.resume(schedule_id=schedule_id, linked_account_id=ACCOUNT)
    assert (resumed.status, resumed.inactive) == ("running", False)
    await client.schedules.delete(schedule_id=schedule_id, linked_account_id=ACCOUNT)
    assert (await client.schedules.list(linked_account_id=ACCOUNT)).total_docs == 0


async def test_variables_resolve_per_account(client: AsyncRefold) -> None:
    """A value set for an account resolves for it; the seeded definitions list by scope."""
    definitions = await client.environment_variables.list_definitions(scope="linked_account")
    (definition,) = definitions.items
    await client.environment_variables.set_value(
        variable_definition_id=str(definition.id), value="7", linked_account_id=ACCOUNT
    )
    value = await client.environment_variables.retrieve_value(
        definition_id=str(definition.id), linked_account_id=ACCOUNT
    )
    assert (value.value, value.name) == ("7", "MAX_RETRIES")
    values = await client.environment_variables.list_values(scope="linked_account")
    assert [v.value for v in values] == ["7"]


async def test_datarefs_and_mcp_servers(client: AsyncRefold) -> None:
    """Datarefs are unique per account; MCP servers update and delete."""
    await client.datarefs.create(ref_name="countries", linked_account_id=ACCOUNT)
    with pytest.raises(ConflictError):
        await client.datarefs.create(ref_name="countries", linked_account_id=ACCOUNT)
    assert (await client.datarefs.list(linked_account_id=ACCOUNT)).total_docs == 1
    made = await client.mcp_servers.create(
        name="Helper", description="d", linked_account_id=ACCOUNT
    )
    server = await client.mcp_servers.update(
        mcp_server_id=str(made.id), agent_name="Ada", linked_account_id=ACCOUNT
    )
    assert server.agent_name == "Ada"
    await client.mcp_servers.delete(mcp_server_id=str(made.id), linked_account_id=ACCOUNT)
    with pytest.raises(NotFoundError):
        await client.mcp_servers.retrieve(mcp_server_id=str(made.id), linked_account_id=ACCOUNT)


async def test_connecting_an_app_shows_in_applications(client: AsyncRefold) -> None:
    """Key-based credentials connect the app; the application list says so."""
    await client.credentials.save_key_credentials(
        slug="stripe", body={"api_key": "sk_x"}, linked_account_id=ACCOUNT
    )
    apps = {a.slug: a.connected for a in await client.applications.list(linked_account_id=ACCOUNT)}
    assert apps == {"slack": False, "hubspot": False, "stripe": True, "postgres": False}
    account = await client.linked_accounts.delete_integration(
        slug="stripe", query_linked_account_id=ACCOUNT, linked_account_id=ACCOUNT
    )
    assert account.integrations == []


async def test_human_tasks_submit_once_and_time_out(
    emulator: Emulator, client: AsyncRefold, clock: FakeClock
) -> None:
    """A task submits once; an unsubmitted one reads TIMEOUT after it expires."""
    task = emulator.add_human_task(name="Approve", expires_in=60)
    await client.human_tasks.submit(id=str(task["_id"]), data={"approved": True})
    assert (await client.human_tasks.retrieve(id=str(task["_id"]))).status == "SUBMITTED"
    with pytest.raises(ConflictError):
        await client.human_tasks.submit(id=str(task["_id"]), data={"approved": False})
    late = emulator.add_human_task(expires_in=60)
    clock.advance(61)
    assert (await client.human_tasks.retrieve(id=str(late["_id"]))).status == "TIMEOUT"


async def test_accounts_filter_by_variable_value(client: AsyncRefold) -> None:
    """`env_variable_name`/`_value` list the accounts holding that variable value."""
    await client.linked_accounts.upsert(linked_account_id="globex")
    (definition,) = (await client.environment_variables.list_definitions(name="MAX_RETRIES")).items
    await client.environment_variables.set_value(
        variable_definition_id=str(definition.id), value="3", linked_account_id="globex"
    )
    named = await client.linked_accounts.list(env_variable_name="MAX_RETRIES")
    assert [a.account_id for a in named] == ["globex"]
    assert (
        await client.linked_accounts.list(env_variable_name="MAX_RETRIES", env_variable_value="4")
    ).total_docs == 0
