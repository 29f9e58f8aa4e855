"""Persistent tables: tables with named columns and records, search, and groups."""

from __future__ import annotations

from typing import Any

from refold_async.testing._http import NO_CONTENT, ApiError
from refold_async.testing._state import Document, TableRecord

from ._base import Call, as_list, as_object, handles, objects, paginate

MAX_COLUMNS = 20


def _table(call: Call, table_id: str | None = None) -> TableRecord:
    table = call.world.tables.get(table_id or call.path["table_id"])
    if table is None:
        raise ApiError(
            404, f"table {table_id or call.path['table_id']!r} not found", "TABLE_NOT_FOUND"
        )
    return table


def _column_names(call: Call) -> list[str]:
    columns = call.need("columns", list)
    if not all(isinstance(c, str) and c for c in columns):
        raise ApiError(400, "columns must be non-empty strings", "VALIDATION_ERROR")
    return [str(c) for c in columns]


@handles("listPersistentTables")
def list_tables(call: Call) -> object:
    docs = [t.doc for t in call.world.tables.values()]
    if call.query.get("name"):
        docs = [d for d in docs if call.query["name"].lower() in d["name"].lower()]
    return paginate(call, docs)


@handles("createPersistentTable")
def create(call: Call) -> object:
    name = call.need("table_name")
    columns = objects(call.need("columns", list))
    if not 0 < len(columns) <= MAX_COLUMNS or not all(c.get("column_name") for c in columns):
        raise ApiError(
            400, f"give 1 to {MAX_COLUMNS} columns, each with a column_name", "VALIDATION_ERROR"
        )
    for table in call.world.tables.values():
        if table.doc["name"] == name:
            return {"table_id": table.doc["_id"], "already_exists": True}
    doc: Document = {
        "_id": call.world.new_id(),
        "org_id": call.world.org_id,
        "name": name,
        "environment": call.world.environment,
        "table_type": "api",
        "is_deleted": False,
        "record_count": 0,
    }
    call.world.stamp(doc, created=True)
    call.world.tables[doc["_id"]] = TableRecord(
        doc=doc, columns=[str(c["column_name"]) for c in columns]
    )
    return {"table_id": doc["_id"], "already_exists": False}


@handles("getPersistentTableRecords")
def records(call: Call) -> object:
    table = _table(call)
    envelope = paginate(call, table.records)
    return {"columns": table.columns, "name": table.doc["name"], **envelope}


@handles("addRecordsToPersistentTable")
def add_records(call: Call) -> object:
    table = _table(call)
    data = call.fields().get("data")
    single = as_object(data)
    rows = [single] if single is not None else objects(data)
    if not rows or (single is None and len(rows) != len(as_list(data))):
        raise ApiError(400, "data must be an object or a list of objects", "VALIDATION_ERROR")
    added: list[dict[str, Any]] = []
    for row in rows:
        record = {
            "_id": call.world.new_id(),
            **{k: v for k, v in row.items() if k in table.columns},
        }
        table.records.append(record)
        added.append({"_id": record["_id"], "acknowledged": True})
    table.doc["record_count"] = len(table.records)
    return {"add_record_result": added, "transformed_add_data": table.records[-len(rows) :]}


@handles("deletePersistentTable")
def delete(call: Call) -> object:
    table = _table(call)
    del call.world.tables[table.doc["_id"]]
    return True


@handles("deletePersistentTableRecord")
def delete_record(call: Call) -> object:
    table = _table(call)
    before = len(table.records)
    table.records = [r for r in table.records if r["_id"] != call.path["record_id"]]
    if len(table.records) == before:
        raise ApiError(404, f"record {call.path['record_id']!r} not found", "RECORD_NOT_FOUND")
    table.doc["record_count"] = len(table.records)
    return {"acknowledged": True, "deletedCount": 1}


@handles("addPersistentTableColumns")
def add_columns(call: Call) -> object:
    table = _table(call)
    new = [c for c in _column_names(call) if c not in table.columns]
    if len(table.columns) + len(new) > MAX_COLUMNS:
        raise ApiError(400, f"a table has at most {MAX_COLUMNS} columns", "VALIDATION_ERROR")
    table.columns.extend(new)
    return {"columns": table.columns}


@handles("removePersistentTableColumns")
def remove_columns(call: Call) -> object:
    table = _table(call)
    gone = set(_column_names(call))
    table.columns = [c for c in table.columns if c not in gone]
    for record in table.records:
        for column in gone:
            record.pop(column, None)
    return {"columns": table.columns}


@handles("renamePersistentTableColumns")
def rename_columns(call: Call) -> object:
    table = _table(call)
    renames = objects(call.need("renames", list))
    for rename in renames:
        old, new = rename.get("old_name"), rename.get("new_name")
        if (
            not isinstance(old, str)
            or old not in table.columns
            or not isinstance(new, str)
            or not new
        ):
            raise ApiError(400, f"cannot rename column {old!r}", "VALIDATION_ERROR")
        table.columns[table.columns.index(old)] = new
        for record in table.records:
            if old in record:
                record[new] = record.pop(old)
    return {"columns": table.columns}


@handles("searchPersistentTableRecords")
def search(call: Call) -> object:
    table = _table(call)
    wanted = as_object(call.fields().get("filters", call.fields()))
    if wanted is None:
        raise ApiError(400, "search with an object of column values", "VALIDATION_ERROR")
    return [r for r in table.records if all(r.get(k) == v for k, v in wanted.items())]


@handles("editTablesGroup")
def edit_group(call: Call) -> object:
    ids = call.need("tableIds", list)
    tables = [_table(call, str(table_id)) for table_id in ids]
    for table in tables:
        table.doc["group"] = call.fields().get("group", "")
    return NO_CONTENT
