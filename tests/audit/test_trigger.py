"""On PostgreSQL the table itself is append-only: triggers refuse UPDATE, DELETE and TRUNCATE,
and let through only a payload replaced by a purge marker while docproc.audit_purge is set."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, connection, transaction

from .conftest import is_postgres

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgres_only(db):
    if not is_postgres():
        pytest.skip("the append-only triggers are installed on PostgreSQL only")


def refused(sql: str, params=(), *, setup: str | None = None) -> str:
    with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cur:
        if setup:
            cur.execute(setup)
        cur.execute(sql, params)
    return str(info.value)


def test_update_is_refused(make_events):
    seq = make_events(2)[0].seq
    assert "append-only" in refused("UPDATE audit_auditevent SET actor = 'mallory' WHERE seq = %s", [seq])


def test_delete_is_refused(make_events):
    seq = make_events(2)[0].seq
    assert "append-only" in refused("DELETE FROM audit_auditevent WHERE seq = %s", [seq])


def test_truncate_is_refused(make_events):
    make_events(1)
    # The test suite allows TRUNCATE on its connections (Django empties tables with it); undo that here.
    message = refused("TRUNCATE audit_auditevent", setup="SET LOCAL docproc.audit_allow_truncate = 'off'")
    assert "TRUNCATE" in message


def test_purge_switch_allows_only_a_purge_marker(make_events):
    seq = make_events(1)[0].seq
    on = "SELECT set_config('docproc.audit_purge', 'on', true)"
    marker = json.dumps({"_purged": {"at": "2026-01-01T00:00:00+00:00", "event": 1}})
    # Another payload, another column, or a marker with company: refused even with the switch on.
    refused("UPDATE audit_auditevent SET payload = %s WHERE seq = %s", ['{"before": "forged"}', seq], setup=on)
    refused("UPDATE audit_auditevent SET actor = 'x', payload = %s WHERE seq = %s", [marker, seq], setup=on)
    refused("UPDATE audit_auditevent SET payload = %s WHERE seq = %s",
            [json.dumps({"_purged": {}, "extra": 1}), seq], setup=on)
    # Without the switch, even a marker is refused.
    refused("UPDATE audit_auditevent SET payload = %s WHERE seq = %s", [marker, seq])
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(on)
        cur.execute("UPDATE audit_auditevent SET payload = %s WHERE seq = %s", [marker, seq])
        cur.execute("SELECT payload FROM audit_auditevent WHERE seq = %s", [seq])
        stored = cur.fetchone()[0]
    assert (json.loads(stored) if isinstance(stored, str) else stored) == json.loads(marker)
