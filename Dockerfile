# One image for the control-plane API, the provisioning worker, the example tenant app and the
# migrate job; the command picks which. `npm run image:check` builds it with buildah and runs it
# (docs/deploying.md, "The image").
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Behind a TLS-inspecting proxy, hand its CA bundle in as the build secret `npm_ca`
# (`--secret id=npm_ca,src=/path/ca.pem`): it is used for this step only and is not in any layer.
RUN --mount=type=secret,id=npm_ca,required=false --mount=type=cache,target=/root/.npm,sharing=locked \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca npm_config_cafile=/run/secrets/npm_ca; fi \
    && npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY apps apps
COPY libs libs
COPY scripts/copy-build-assets.mjs scripts/
# The console is bundled into dist/console, so React and the other console packages are dev
# dependencies; prune leaves the empty scope directories of what it removed.
RUN npm run build && npm prune --omit=dev \
    && find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete

FROM node:24-bookworm-slim
# pg_dump, with which the worker exports a schema tenant's schema before deleting it. From the
# PostgreSQL project's repository (its key ships in Debian's postgresql-common): pg_dump refuses a
# server newer than itself, Debian 12's is 15, and hosts run 16; 17 dumps every server from 9.2 on.
# PG_CLIENT=debian takes Debian's own client (15) instead, for builds that can reach Debian's
# mirror only; such an image exports schema tenants of PostgreSQL 15 hosts and older only.
ARG PG_CLIENT=pgdg
RUN apt-get update \
    && if [ "$PG_CLIENT" = debian ]; then \
         apt-get install -y --no-install-recommends postgresql-client; \
       else \
         apt-get install -y --no-install-recommends ca-certificates postgresql-common \
         && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
         && apt-get install -y --no-install-recommends postgresql-client-17; \
       fi \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production LOG_FORMAT=json HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
USER node
EXPOSE 3000 3001
CMD ["node", "dist/apps/control-plane-api/src/main.js"]
