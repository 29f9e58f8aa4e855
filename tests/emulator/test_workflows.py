"""Events, workflows and executions on the emulator: state that moves with the clock."""

from __future__ import annotations

import pytest

from refold_async import AsyncRefold, BadRequestError, ConflictError, NotFoundError
from refold_async.testing import Emulator, FakeClock

from .conftest import ACCOUNT

EVENT = "order.created"


async def _published_workflow(client: AsyncRefold, name: str = "Sync orders") -> str:
    created = await client.workflows.create(
        body={"name": name, "slug": "slack", "nodes": [{"type": "trigger", "event": EVENT}]},
        linked_account_id=ACCOUNT,
    )
    assert created.workflow is not None
    workflow_id = str(created.workflow.id)
    await client.for_linked_account(ACCOUNT).workflows.publish(
        workflow_id=workflow_id, published=True
    )
    return workflow_id


async def test_executions_complete_after_the_delay(client: AsyncRefold, clock: FakeClock) -> None:
    """A fired event's execution is Running until `execution_delay` passes, then Completed."""
    await client.events.create(name=EVENT, response="ok")
    await client.events.trigger(event=EVENT, linked_account_id=ACCOUNT, payload={"order": 7})
    (execution,) = (await client.executions.list(linked_account_id=ACCOUNT)).items
    assert execution.status == "Running"
    clock.advance(1.999)
    assert (
        await client.executions.retrieve(execution_id=str(execution.id), linked_account_id=ACCOUNT)
    ).status == "Running"
    clock.advance(0.001)
    done = await client.executions.retrieve(
        execution_id=str(execution.id), linked_account_id=ACCOUNT
    )
    assert done.status == "Completed"
    assert done.completion_time is not None
    assert done.created_at is not None
    assert (done.completion_time - done.created_at).total_seconds() == 2.0


async def test_an_event_starts_each_listening_workflow(client: AsyncRefold) -> None:
    """Two published workflows listen for the event: one trigger, two executions, by name and slug."""
    await client.events.create(name=EVENT, response="ok")
    first = await _published_workflow(client, "First")
    second = await _published_workflow(client, "Second")
    await client.events.trigger_for_app(slug="slack", event=EVENT, linked_account_id=ACCOUNT)
    page = await client.executions.list(linked_account_id=ACCOUNT)
    assert sorted(
        str(e.associated_workflow["_id"]) for e in page if e.associated_workflow
    ) == sorted([first, second])
    only_first = await client.executions.list(linked_account_id=ACCOUNT, workflow_id=first)
    assert only_first.total_docs == 1


async def test_firing_an_unknown_event_is_404(client: AsyncRefold) -> None:
    """No such event, no executions."""
    with pytest.raises(NotFoundError):
        await client.events.trigger(event="nope", linked_account_id=ACCOUNT)


async def test_stop_and_rerun(client: AsyncRefold) -> None:
    """A running execution stops; a stopped one reruns as a new running execution."""
    await client.events.create(name=EVENT, response="ok")
    await client.events.trigger(event=EVENT, linked_account_id=ACCOUNT)
    (execution,) = (await client.executions.list(linked_account_id=ACCOUNT)).items
    execution_id = str(execution.id)
    with pytest.raises(ConflictError):
        await client.executions.rerun(execution_id=execution_id, linked_account_id=ACCOUNT)
    await client.executions.stop(execution_id=execution_id, linked_account_id=ACCOUNT)
    stopped = await client.executions.retrieve(execution_id=execution_id, linked_account_id=ACCOUNT)
    assert stopped.status == "Stopped"
    with pytest.raises(ConflictError):
        await client.executions.stop(execution_id=execution_id, linked_account_id=ACCOUNT)
    rerun = await client.executions.rerun(execution_id=execution_id, linked_account_id=ACCOUNT)
    assert rerun.status == "Running"
    assert rerun.id != execution_id


async def test_execute_sync_answers_completed_and_async_runs_on(
    client: AsyncRefold, clock: FakeClock
) -> None:
    """`sync_execution` answers the return value and a completed execution; without it, it runs."""
    workflow_id = await _published_workflow(client)
    now = await client.workflows.execute(
        workflow_id=workflow_id,
        slug="slack",
        sync_execution=True,
        body={"x": 1},
        linked_account_id=ACCOUNT,
    )
    assert now.return_value == {"x": 1}
    assert now.errored is False
    later = await client.workflows.execute(
        workflow_id=workflow_id, slug="slack", linked_account_id=ACCOUNT
    )
    statuses = {
        str(e.id): e.status
        for e in await client.executions.list(
            linked_account_id=ACCOUNT, execution_source="API_CALL"
        )
    }
    assert statuses == {str(now.execution_id): "Completed", str(later.execution_id): "Running"}


async def test_an_unpublished_workflow_cannot_run(client: AsyncRefold) -> None:
    """Executing a draft-only workflow is a 400."""
    created = await client.workflows.create(body={"name": "Draft"}, linked_account_id=ACCOUNT)
    assert created.workflow is not None
    with pytest.raises(BadRequestError):
        await client.workflows.execute(
            workflow_id=str(created.workflow.id), slug="slack", linked_account_id=ACCOUNT
        )


async def test_publishing_makes_numbered_versions(client: AsyncRefold) -> None:
    """Each publish snapshots a version, newest first; `version=` picks the number."""
    workflow_id = await _published_workflow(client)
    bound = client.for_linked_account(ACCOUNT)
    await bound.workflows.publish(workflow_id=workflow_id, published=True, version=5)
    versions = await client.workflows.list_versions(
        workflow_id=workflow_id, linked_account_id=ACCOUNT
    )
    assert [v.version for v in versions] == [5, 1]
    current = await client.workflows.retrieve(workflow_id=workflow_id, linked_account_id=ACCOUNT)
    assert (current.published, current.current_version) == (True, 5)
    draft = await client.workflows.retrieve_draft(
        workflow_id=workflow_id, linked_account_id=ACCOUNT
    )
    assert draft.id == current.id


async def test_workflows_of_one_account_are_invisible_to_another(
    emulator: Emulator, client: AsyncRefold
) -> None:
    """A workflow belongs to the linked account that created it."""
    workflow_id = await _published_workflow(client)
    await client.linked_accounts.upsert(linked_account_id="globex")
    with pytest.raises(NotFoundError):
        await client.workflows.retrieve(workflow_id=workflow_id, linked_account_id="globex")
    assert (await client.workflows.list(linked_account_id="globex")).total_docs == 0


async def test_enabled_workflows_follow_the_config_toggle(client: AsyncRefold) -> None:
    """Toggling a workflow on in a config lists it as enabled for the account."""
    workflow_id = await _published_workflow(client)
    config = await client.configs.install(slug="slack", linked_account_id=ACCOUNT)
    assert await client.workflows.list_enabled(linked_account_id=ACCOUNT) == []
    await client.configs.toggle_workflow(
        slug="slack",
        config_id=str(config.config_id),
        workflow_id=workflow_id,
        enabled=True,
        linked_account_id=ACCOUNT,
    )
    (enabled,) = await client.workflows.list_enabled(linked_account_id=ACCOUNT)
    assert (enabled.id, enabled.config_id) == (workflow_id, config.config_id)
