import pytest

from config.celery import app as celery_app
from tests.brokers import use_broker


@pytest.fixture
def broker_url():
    """Point the Celery app at another broker for one test, then restore it."""
    original = celery_app.conf.broker_url

    yield use_broker
    use_broker(original)


def test_liveness_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
@pytest.mark.redis
def test_readiness_is_ok_with_database_and_redis_up(client, redis_url, broker_url):
    broker_url(redis_url)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readiness_names_the_broker_when_it_is_down(client, broker_url):
    broker_url("redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] != "ok"


@pytest.mark.django_db
def test_readiness_names_a_down_broker_without_its_exception_text(client, broker_url):
    broker_url("redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "broker": "unavailable"}}
    text = response.content.decode()
    for leak in ("127.0.0.1", "Error", "refused", "redis://", ":1"):
        assert leak not in text


@pytest.mark.django_db
def test_readiness_names_a_down_database_without_its_exception_text(client, monkeypatch, broker_url, redis_url):
    from django.db import OperationalError

    import config.health

    secret = 'connection to server at "db.internal" (10.1.2.3), port 5432 failed: password authentication failed'

    class Refusing:
        def cursor(self):  # the connection is gone the way a database outage looks to Django
            raise OperationalError(secret)

    broker_url(redis_url)
    monkeypatch.setattr(config.health, "connection", Refusing())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"
    text = response.content.decode()
    for leak in ("db.internal", "10.1.2.3", "password", "OperationalError", "5432"):
        assert leak not in text
