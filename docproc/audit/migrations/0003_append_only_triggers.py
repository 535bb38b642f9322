"""On PostgreSQL, make the audit table append-only below the ORM: triggers refuse UPDATE, DELETE
and TRUNCATE. Two narrow exceptions, each needing a transaction- or session-local setting that
the application never sets by accident:

- ``docproc.audit_purge = on`` (set with ``set_config(..., true)`` by the retention purge, inside
  the transaction that also writes its ``retention.purged`` event) allows an UPDATE that changes
  nothing but the payload, and only to a purge marker ``{"_purged": {...}}``. The chain covers the
  payload's digest, not the payload, so it still verifies.
- ``docproc.audit_allow_truncate = on`` allows TRUNCATE; the test suite sets it on its own
  connections because Django empties every table with TRUNCATE between transactional tests.

Someone who owns the table can still disable the triggers; the hash chain (``audit_verify``)
and exported manifests are what detect that.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION docproc_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF coalesce(current_setting('docproc.audit_allow_truncate', true), '') = 'on' THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'audit events are append-only: TRUNCATE of % refused', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'UPDATE'
       AND coalesce(current_setting('docproc.audit_purge', true), '') = 'on'
       AND (to_jsonb(NEW) - 'payload') = (to_jsonb(OLD) - 'payload')
       AND jsonb_typeof(NEW.payload) = 'object'
       AND NEW.payload ? '_purged'
       AND (SELECT count(*) FROM jsonb_object_keys(NEW.payload)) = 1
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("audit", "AuditEvent")._meta.db_table)
    schema_editor.execute(FUNCTION, params=None)
    schema_editor.execute(
        f"CREATE TRIGGER docproc_audit_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION docproc_audit_append_only()"
    )
    schema_editor.execute(
        f"CREATE TRIGGER docproc_audit_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION docproc_audit_append_only()"
    )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("audit", "AuditEvent")._meta.db_table)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS docproc_audit_no_update_delete ON {table}")
    schema_editor.execute(f"DROP TRIGGER IF EXISTS docproc_audit_no_truncate ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS docproc_audit_append_only()")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_export_permission")]

    operations = [migrations.RunPython(install, uninstall)]
