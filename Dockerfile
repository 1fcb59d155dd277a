# The seenn-bullmq demo (`npm run demo`) in a container. Used by docker-compose.yml, which also
# starts Redis and passes REDIS_URL.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY examples ./examples
ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000
# node runs the demo directly (not through npm) so Ctrl-C / `docker compose down` reach it and it
# stops cleanly.
CMD ["node", "--import", "tsx", "examples/demo.ts"]
