# syntax=docker/dockerfile:1
# Strom's image: built from the workspace, run from its build output with production dependencies only.
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund && npm run build
# What the runtime needs from every workspace: its manifest and build output, plus the migrations.
# Sources, tests and type declarations stay behind.
RUN mkdir /out \
 && cp package.json package-lock.json /out/ \
 && for dir in packages/* apps/*; do \
      mkdir -p "/out/$dir" && cp "$dir/package.json" "/out/$dir/"; \
      if [ -d "$dir/dist" ]; then cp -r "$dir/dist" "/out/$dir/dist"; fi; \
    done \
 && cp -r packages/storage/drizzle /out/packages/storage/drizzle \
 && find /out -name '*.tsbuildinfo' -delete

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=5280 \
    DATA_DIR=/var/lib/strom
WORKDIR /app
COPY --from=build /out/ ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && mkdir -p /var/lib/strom \
 && chown node:node /var/lib/strom
# The image's unprivileged user; Strom needs no privileges (it listens above 1024).
USER node
VOLUME ["/var/lib/strom"]
# 5222 and 5223 serve native clients over TCP once XMPP_CERT_FILE/XMPP_KEY_FILE are set.
EXPOSE 5280 5222 5223
# No curl in slim images: Node itself asks the liveness endpoint.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 5280) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "apps/server/dist/cli.js", "serve"]
