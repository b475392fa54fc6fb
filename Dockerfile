# syntax=docker/dockerfile:1
#
# learning-analytics: the live analytics service in one image.
#
#   docker build -t learning-analytics:0.1.0 .
#   docker run --rm --init -p 8000:8000 -p 127.0.0.1:9000:9000 \
#       -v /var/lib/learning-analytics:/var/analytics/data --stop-timeout 30 \
#       learning-analytics:0.1.0
#
# Stopping: SIGTERM makes the service stop accepting, close connections (1001),
# drain, flush to SQLite and exit 0 within grace (LA_GRACE_S, 5 s) plus the
# final flush (milliseconds; given up after 10 s): under 10 s, 15 s at the very
# worst. `docker run --stop-timeout` and `docker stop -t` (and systemd's
# TimeoutStopSec around them, see ops/learning-analytics.service) must be
# longer than that, or Docker sends SIGKILL and the last commit window is
# lost. Use 30 s (and 45 s for systemd).
#
# Two stages: the builder installs uv and, from uv.lock exactly, the locked
# dependencies and the project into /opt/venv; the runtime stage copies only
# that venv (same base image, same path, so its interpreter links hold).

# ---------------------------------------------------------------- builder ---
FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

# uv.lock is lockfile revision 5: a uv of this line reads it.
RUN pip install "uv>=0.13.9,<0.14"

WORKDIR /src

# Dependencies first (their layer survives source edits), exactly as locked:
# --frozen fails rather than re-resolve, --no-dev leaves pytest and ruff out.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project --no-editable

# Then the project itself, built as a wheel (--no-editable) so the venv holds
# the packages and the bundled courses (courses/bundled/) and not links to /src.
COPY analytics ./analytics
COPY messages ./messages
COPY courses ./courses
COPY websocket ./websocket
COPY store ./store
COPY legacy ./legacy
COPY exports ./exports
COPY config ./config
COPY access ./access
COPY telemetry ./telemetry
COPY web ./web
COPY actors ./actors
COPY cli ./cli
COPY loadtest ./loadtest
COPY comparison_graphs ./comparison_graphs
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# Fail the build, not the deployment, if the installed package cannot find its
# bundled courses (-I: the cwd /src, with the sources, is not on the path).
RUN /opt/venv/bin/python -I -c "import courses; print(len(courses.bundled_catalog().courses), 'bundled courses')" \
    && /opt/venv/bin/learning-analytics config > /dev/null

# ---------------------------------------------------------------- runtime ---
FROM python:3.11-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="learning-analytics" \
      org.opencontainers.image.description="Live analytics for remote laboratory dashboards"

# A fixed uid/gid, so that the host's data directory can be chowned to it
# (chown -R 10001:10001 /var/lib/learning-analytics) before the first start.
RUN groupadd --system --gid 10001 analytics \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/analytics \
       --no-create-home --shell /usr/sbin/nologin analytics \
    && mkdir -p /var/analytics/data \
    && chown -R 10001:10001 /var/analytics

COPY --from=builder /opt/venv /opt/venv

# DATA_PATH is the store; COMP_PATH stays unset, so the courses bundled in the
# installed package are used (mount a directory and set COMP_PATH to change them).
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_PATH=/var/analytics/data

WORKDIR /var/analytics/data
VOLUME ["/var/analytics/data"]

# 8000: the WebSocket hub (lab UIs, dashboards). 9000: /healthz, /readyz,
# /metrics and POST /session/<stream>; publish it on the host's loopback only.
EXPOSE 8000 9000

USER 10001:10001

STOPSIGNAL SIGTERM

# No curl in slim images: the venv's Python asks /healthz (-I: ignore the cwd).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/opt/venv/bin/python", "-I", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9000/healthz', timeout=2).status == 200 else 1)"]

# `docker run IMAGE config` or `docker exec ... learning-analytics backup FILE`
# run the other commands with the same settings.
ENTRYPOINT ["learning-analytics"]
CMD ["serve", "--listen", "0.0.0.0:8000", "--http-listen", "0.0.0.0:9000"]
