from __future__ import annotations

import pytest


@pytest.fixture
def make_user(db):
    """make_user("reviewer", "ana") -> a user in that role's group, password "pw-<name>-secret"."""
    from django.contrib.auth.models import Group, User

    def make(role: str | None, name: str | None = None) -> User:
        name = name or f"{role or 'nobody'}-{User.objects.count() + 1}"
        user = User.objects.create_user(name, password=f"pw-{name}-secret")
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def review_doc(db, settings):
    from fixtures.review_documents import make_review_document

    return make_review_document


def login(client, user):
    client.force_login(user)
    return client
