"""The application's shape: every route declares who may use it, and the migrations match the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app import policy
from app.extensions import db

# Endpoints Flask itself adds.
FRAMEWORK_ENDPOINTS = {"static"}


def test_every_route_is_declared_public_or_protected(app):
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FRAMEWORK_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        if not getattr(view, "access", None):
            undeclared.append(f"{rule.rule} ({rule.endpoint})")
    assert not undeclared, "routes with no access declaration: " + ", ".join(undeclared)


def test_protected_routes_send_anonymous_people_to_sign_in(app, client):
    checked = 0
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint in FRAMEWORK_ENDPOINTS or view.access == policy.PUBLIC:
            continue
        path = rule.build({arg: 1 for arg in rule.arguments}, append_unknown=False)[1]
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(path, method=method, data={})
        # A POST without a CSRF token is refused before anything else; either way nothing is shown.
        assert response.status_code in (302, 400), f"{method} {path} gave {response.status_code}"
        if response.status_code == 302:
            assert "/sign-in" in response.headers["Location"], f"{path} redirected elsewhere"
        checked += 1
    assert checked > 10


def test_migrations_have_one_head(app):
    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    assert len(script.get_heads()) == 1


def test_models_and_migrations_agree(app):
    """The test database is built by the migrations; autogenerate must find nothing to add."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []
