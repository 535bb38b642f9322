from tests.reviewer.conftest import make_user  # noqa: F401  (the review roles' users)
