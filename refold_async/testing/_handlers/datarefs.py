"""Datarefs: named reference-data tables of a linked account."""

from __future__ import annotations

from refold_async.testing._http import NO_CONTENT, ApiError
from refold_async.testing._state import Document

from ._base import Call, handles, paginate


def _dataref(call: Call) -> Document:
    doc = call.world.datarefs.get((call.linked_account_id, call.path["refName"]))
    if doc is None:
        raise ApiError(404, f"dataref {call.path['refName']!r} not found", "DATAREF_NOT_FOUND")
    return doc


@handles("listDatarefs")
def list_datarefs(call: Call) -> object:
    linked = call.principal.linked_account_id or call.query.get("linked_account_id")
    docs = [
        doc for (owner, _), doc in call.world.datarefs.items() if linked is None or owner == linked
    ]
    if call.flag("unique"):
        docs = list({d["name"]: d for d in reversed(docs)}.values())[::-1]
    return paginate(call, docs)


@handles("createDataref")
def create(call: Call) -> object:
    name = call.need("refName")
    key = (call.linked_account_id, name)
    if key in call.world.datarefs:
        raise ApiError(409, f"dataref {name!r} already exists", "DATAREF_EXISTS")
    doc: Document = {
        "_id": call.world.new_id(),
        "name": name,
        "linked_account_id": call.linked_account_id,
        "org_id": call.world.org_id,
        "environment": call.world.environment,
        "data": {},
    }
    call.world.datarefs[key] = call.world.stamp(doc, created=True)
    return doc


@handles("getDatarefAsTable")
def as_table(call: Call) -> object:
    doc = _dataref(call)
    rows = [{"key": key, "value": value} for key, value in doc["data"].items()]
    page = call.int_query("page", 1)
    limit = call.int_query("limit", 10)
    total_pages = max(1, -(-len(rows) // limit))
    return {
        "headers": ["key", "value"],
        "rows": rows[(page - 1) * limit : page * limit],
        "page": page,
        "limit": limit,
        "totalDocs": len(rows),
        "totalPages": total_pages,
        "hasNextPage": page < total_pages,
    }


@handles("deleteDataref")
def delete(call: Call) -> object:
    doc = _dataref(call)
    del call.world.datarefs[(call.linked_account_id, doc["name"])]
    return {"acknowledged": True, "deletedCount": 1}


@handles("clearDatarefRecords")
def clear(call: Call) -> object:
    doc = _dataref(call)
    doc["data"] = {}
    return call.world.stamp(doc)


@handles("editDatarefGroup")
def edit_group(call: Call) -> object:
    names = call.need("refNames", list)
    docs = [call.world.datarefs.get((call.linked_account_id, str(n))) for n in names]
    if any(doc is None for doc in docs):
        raise ApiError(404, "one of the datarefs was not found", "DATAREF_NOT_FOUND")
    for doc in docs:
        if doc is not None:
            doc["group"] = call.fields().get("group", "")
    return NO_CONTENT
