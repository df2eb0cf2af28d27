# One image for every ALBRU process; docker-compose.yml picks the role by command:
#   web     python -m app.server                       (default CMD, port 3001)
#   worker  celery -A tasks.worker worker ...
#   beat    celery -A tasks.worker beat ...
#   flower  celery -A tasks.worker flower ...          (port 5555)
#   migrate flask --app app db upgrade                 (Alembic migrations)
# All dependencies ship as wheels (PyMySQL is pure Python), so no apt step and
# no compiler are needed. The web UI is built in a Node stage; only its output
# (web/dist, served by the web process at /) reaches the image.
FROM node:20.19.5-bookworm-slim AS webui
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM python:3.11.17-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    APP_ENV=production \
    PORT=3001

# Fixed ids so mounted volumes get predictable ownership; -l (no-log-init)
# keeps a large uid from bloating /var/log/lastlog.
RUN groupadd --system --gid 10001 albru \
    && useradd --system --uid 10001 --gid albru --no-log-init \
        --home-dir /srv/albru --shell /usr/sbin/nologin albru

WORKDIR /srv/albru

# Dependencies first: this layer is reused while only the code changes.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# The code stays owned by root: the albru user can read it, not change it.
COPY . .
COPY --from=webui /web/dist ./web/dist

# Numeric, so runtimes that check for a non-root user (runAsNonRoot) can
# verify it without reading /etc/passwd; 10001 is the albru user above.
USER 10001:10001

EXPOSE 3001

CMD ["python", "-m", "app.server"]
