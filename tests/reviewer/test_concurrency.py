"""Reviewers pressing Next at the same moment, each on its own PostgreSQL connection."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from reviewer import services
from reviewer.models import ReviewTask

pytestmark = [pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
def test_reviewers_pressing_next_at_once_get_different_documents(make_user, review_doc):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (SELECT ... FOR UPDATE SKIP LOCKED); set DATABASE_URL")
    docs = [review_doc(seed=i) for i in range(4)]
    reviewers = [make_user("reviewer", f"r{i}") for i in range(4)]
    rounds = 3  # each round, all four press Next together; then they release and go again
    for _ in range(rounds):
        barrier = threading.Barrier(len(reviewers))
        got: dict[str, object] = {}
        errors: list[BaseException] = []

        def press_next(user, barrier=barrier, got=got, errors=errors):
            try:
                barrier.wait(timeout=30)
                task = services.review_task_claim_next(user=user)
                got[user.username] = task.document_id if task else None
            except BaseException as exc:  # surfaced below
                errors.append(exc)
            finally:
                connections.close_all()  # this thread's own connection

        threads = [threading.Thread(target=press_next, args=(u,)) for u in reviewers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert None not in got.values() and len(set(got.values())) == len(reviewers), got
        assert set(got.values()) == {d.pk for d in docs}
        for task in ReviewTask.objects.filter(assignee__isnull=False):
            assert got[task.assignee.username] == task.document_id
            services.review_task_release(task=task, user=task.assignee)
