# The image for the course's manifests and for `./app manifests --image`: docker build -t <registry>/xray-eks-app:0.1.0 .
# Stage 1 builds the single executable; stage 2 picks, from Debian's own packages, the few files the binary and the
# course's liveness probe need; the image is those files alone, run as a non-root user. docs/image.md has the rest.
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx bun scripts/build.ts

# The course's own usermgmt Deployment has a liveness probe that runs `/bin/sh -c "nc -z localhost 8095"`, and our
# image must work there after changing only the image line: so a shell (dash) and netcat-openbsd (Debian's busybox
# has no `nc -z`), plus the shared libraries they and the binary load, found by ldd rather than listed by hand.
FROM debian:bookworm-slim AS runtime-files
RUN apt-get update \
  && apt-get install -y --no-install-recommends netcat-openbsd ca-certificates \
  && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/app /app
# Each package's dpkg record (status.d, as distroless images keep them) and licence come along, so that image
# scanners such as ECR's still see which Debian packages, at which versions, the image holds.
RUN set -eu; \
  mkdir -p /rootfs/bin /rootfs/usr/bin /rootfs/etc/ssl/certs /rootfs/var/lib/dpkg/status.d; \
  mkdir -m 1777 /rootfs/tmp; \
  cp /bin/dash /rootfs/bin/sh; \
  cp /bin/nc.openbsd /rootfs/usr/bin/nc; \
  if ldd /app /bin/dash /bin/nc.openbsd | grep 'not found'; then exit 1; fi; \
  libs=$(ldd /app /bin/dash /bin/nc.openbsd \
    | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' | sort -u); \
  for lib in $libs; do cp --parents -L "$lib" /rootfs; done; \
  cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; \
  cp /etc/nsswitch.conf /rootfs/etc/; \
  cp -L /etc/os-release /rootfs/etc/os-release; \
  packages=$(for file in /bin/dash /bin/nc.openbsd $libs; do \
    dpkg -S "$file" 2>/dev/null || dpkg -S "$(readlink -f "$file")"; done | cut -d: -f1 | sort -u); \
  for package in $packages ca-certificates; do \
    dpkg-query -s "$package" > "/rootfs/var/lib/dpkg/status.d/$package"; \
    mkdir -p "/rootfs/usr/share/doc/$package"; \
    cp "/usr/share/doc/$package/copyright" "/rootfs/usr/share/doc/$package/"; \
  done

FROM scratch
COPY --from=runtime-files /rootfs/ /
COPY --from=build /src/app /app
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Bun's allocator (mimalloc) hands freed pages back to the kernel after 100 ms by default; under load they are
# wanted again moments later and every page faults back in. Held for 10 s instead, a busy pod keeps them and an
# idle one still returns them. Measured side by side (README, "Cost of tracing"): 6% more requests/s untraced,
# 10% at default sampling, 7% at 100%, the same resident memory once idle.
ENV MIMALLOC_PURGE_DELAY=10000
USER 10001:10001
EXPOSE 8095 8096
# No --role: the role follows from the environment the course's Deployments set (DB_* or AWS_MAIL_SERVER_*).
ENTRYPOINT ["/app", "serve"]
