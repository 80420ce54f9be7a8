# The image for the course's manifests: change only their `image:` line. Build ./app first (npm ci && npm run build).
# Debian slim rather than distroless because the course's usermgmt liveness probe runs `/bin/sh -c "nc -z localhost 8095"`.
FROM debian:bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends netcat-openbsd ca-certificates \
  && rm -rf /var/lib/apt/lists/*
COPY app /app
USER 10001:10001
EXPOSE 8095 8096
# No --role: the role follows from the environment the course's Deployment sets (DB_* or AWS_MAIL_SERVER_*).
ENTRYPOINT ["/app", "serve"]
