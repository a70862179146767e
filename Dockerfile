# waporta container image: the gateway on 0.0.0.0:3000, its SQLite data in the /data volume.
#   docker compose up -d                         (see compose.yaml)
#   docker build -t waporta . && docker run -p 3000:3000 -v waporta-data:/data waporta
# With no dashboard password configured, the first start prints a generated one: docker logs <container>.

# ---- build: a wheel of waporta plus wheels of its dependencies
FROM python:3.11-slim AS build
WORKDIR /src
# Only what the package needs (no .venv, data or tests from the build context).
COPY pyproject.toml setup.py README.md ./
COPY waporta ./waporta
COPY waproto ./waproto
COPY plugins ./plugins
COPY dashboard ./dashboard
RUN pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /wheels .

# ---- runtime
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    WAPORTA_DATA_DIR=/data
RUN useradd --system --user-group --uid 10001 --home-dir /app --create-home --shell /usr/sbin/nologin waporta \
    && mkdir -p /data \
    && chown waporta:waporta /data \
    && chmod 0700 /data
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /tmp/wheels /tmp/wheels/waporta-*.whl \
    && rm -rf /tmp/wheels
# `waporta serve` reads ./waporta.toml when present: mount one at /app/waporta.toml to configure more.
WORKDIR /app
USER waporta
VOLUME ["/data"]
EXPOSE 3000
# Python, not curl (the slim image has no curl): any non-2xx answer or no answer is unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3000'), timeout=4)" || exit 1
# SIGTERM (docker stop) shuts down gracefully: in-flight requests finish, the database is closed.
STOPSIGNAL SIGTERM
CMD ["waporta", "serve"]
