from app import create_app
from tests.conftest import TEST_SETTINGS


def test_healthz_says_the_process_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_503_with_a_reason_when_the_database_is_unreachable(tmp_path):
    unreachable = create_app(
        "testing", SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none",
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 1}}, **TEST_SETTINGS,
    )
    response = unreachable.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert "database unreachable" in body["reason"]


def test_every_response_carries_a_request_id_and_is_logged(client, caplog):
    caplog.set_level("INFO", logger="pathways.request")
    response = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["X-Request-ID"] == "abc123"
    line = next(r.getMessage() for r in caplog.records if r.name == "pathways.request")
    assert "request_id=abc123" in line
    assert "method=GET" in line and "path=/healthz" in line and "status=200" in line
    assert "duration_ms=" in line


def test_a_request_without_an_id_gets_one(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert len(first) == 32 and first != second
