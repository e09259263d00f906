"""Migration operations of our own, for schema changes Django's would make too heavily."""

from __future__ import annotations

from typing import Any

from django.db import migrations


class DropForeignKeyIndex(migrations.AlterField):
    """``AlterField`` to ``db_index=False`` on a foreign key that another index leads with:
    drops the key's own index and nothing else.

    Django's ``AlterField`` for that change also drops and re-adds the foreign-key
    constraint, which on PostgreSQL re-checks every row of the table under an exclusive
    lock: minutes on a large table (the audit trail, chat messages) of a live clinic.
    Reversed, the index is created again (same name as Django gives it)."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        field = model._meta.get_field(self.name)
        index = schema_editor._create_index_name(model._meta.db_table, [field.column], suffix="")
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(index)}")

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        schema_editor.execute(
            schema_editor._create_index_sql(model, fields=[model._meta.get_field(self.name)])
        )

    def describe(self) -> str:
        return f"Drop the index of {self.model_name}.{self.name} (another index leads with it)"
