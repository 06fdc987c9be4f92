# The Chain Recruit image: one image for the web (gunicorn), the Celery worker, beat
# and the migrate step; docker-compose.yml chooses the command. Static files are
# collected at build time and served by the app itself (WhiteNoise), never a CDN.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CHAIN_RECRUIT_VAR_DIR=/app/var \
    PORT=8000

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
# A throw-away key only for collectstatic; the running containers need their own.
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only-build-key-not-used-at-run-time-0123456789abcdef \
        python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --system --uid 10001 --home-dir /app chain-recruit \
    && mkdir -p /app/var \
    && chown -R chain-recruit /app/var

USER chain-recruit
EXPOSE 8000
# gunicorn binds 0.0.0.0:$PORT when no --bind is given; --timeout stays above the slowest
# documented request (see README, "Request time limits").
CMD ["gunicorn", "config.wsgi:application", "--workers", "3", "--timeout", "120", "--access-logfile", "-"]
