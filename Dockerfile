# The image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim

# PYTHONPATH: import the project from /app, not the copy `pip install .` puts in
# site-packages, because settings find templates/ and static/ next to janitor_site/.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

RUN useradd --system --create-home --uid 10001 janitor

WORKDIR /app

# The locked versions first, in a layer of their own that code changes do not rebuild.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# Copied one by one so that .venv, var/, .env and .git never reach the image, nor the
# demo and test kit (devtools/), the benchmarks (bench/) or the tests.
COPY pyproject.toml README.md manage.py ./
COPY janitor_site/ janitor_site/
COPY registry/ registry/
COPY templates/ templates/
COPY static/ static/
RUN pip install --no-deps .

# The keys and the Redis URL only let settings load; they are not kept in the image.
RUN DEBUG=0 \
    SECRET_KEY=build-only-not-a-secret \
    CREDENTIALS_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    REDIS_URL=redis://build-only.invalid:6379/0 \
    python manage.py collectstatic --noinput \
    && mkdir -p var && chown janitor:janitor var

USER janitor
EXPOSE 8000
CMD ["gunicorn", "janitor_site.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
