# One image for every ALBRU process; docker-compose.yml picks the role by command:
#   web     python -m app.server                       (default CMD, port 3001)
#   worker  celery -A tasks.worker worker ...
#   beat    celery -A tasks.worker beat ...
#   flower  celery -A tasks.worker flower ...          (port 5555)
#   migrate flask --app app db upgrade                 (Alembic migrations)
#   nginx   the `front` stage (docker-compose.yml builds it with target: front):
#           nginx with the built web UI and deploy/nginx/{nginx,default}.conf inside.
# All dependencies ship as wheels (PyMySQL is pure Python), so no apt step and
# no compiler are needed. The web UI is built in a Node stage; only its output
# (web/dist, served by the web process at / and by nginx) reaches the images.
# The base images are build arguments (docker-compose.yml passes NODE_IMAGE,
# PYTHON_IMAGE and NGINX_IMAGE, defaulting to these official tags), so a machine
# without a registry can build on stand-ins (deploy/standins/).
ARG NODE_IMAGE=node:20.19.5-bookworm-slim
ARG NGINX_IMAGE=nginx:1.28.0-alpine
ARG PYTHON_IMAGE=python:3.11.17-slim-bookworm

FROM ${NODE_IMAGE} AS webui
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM ${NGINX_IMAGE} AS front
COPY deploy/nginx/nginx.conf /etc/nginx/nginx.conf
COPY deploy/nginx/default.conf /etc/nginx/conf.d/default.conf
COPY --from=webui /web/dist /usr/share/nginx/html

FROM ${PYTHON_IMAGE}

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
