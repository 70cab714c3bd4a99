# One image with every binary of the system: svc-auth, svc-user, svc-admin,
# edge and rpcctl. A container runs one of them, named as its command:
#
#   docker build -t microcore .
#   docker run --rm microcore rpcctl --help
#
# The build stage builds exactly as scripts/stack.sh does (scripts/lib.sh's
# ensure_build_packages and build_tree), so the image holds the binaries the
# stack command runs. The runtime stage has only the shared libraries they
# load (the list follows `ldd` on the built binaries; tests/deploy checks it
# against them), no compiler, and runs as an unprivileged user.
# Configuration and secrets come from the environment at run time
# (docs/operations.md); nothing secret is copied in (.dockerignore lists the
# only paths sent to the builder).

FROM debian:bookworm AS build
WORKDIR /src
# The package list alone first: the layer with the toolchain is reused until
# the list changes.
COPY scripts/lib.sh scripts/ports.sh scripts/
RUN bash -c 'source scripts/lib.sh && ensure_build_packages' \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN bash -c 'source scripts/lib.sh && build_tree /src/build'

FROM debian:bookworm-slim AS runtime
# Runtime libraries of the five binaries (libc6 is in the base image), and
# the CA bundle for TLS to managed PostgreSQL or Redis
# (sslrootcert=/etc/ssl/certs/ca-certificates.crt) and to svc-auth's SMTP
# relay (smtps://, STARTTLS; libcurl's default bundle).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libprotobuf-c1 libnng1 libpq5 libhiredis0.14 libmicrohttpd12 \
      libsodium23 libjansson4 libcurl4 liboath0 libqrencode4 \
      libmbedtls14 libmbedx509-1 libmbedcrypto7 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 microcore \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin microcore

COPY --from=build /src/build/svc-auth/svc-auth /src/build/svc-user/svc-user \
     /src/build/svc-admin/svc-admin /src/build/edge/edge /src/build/cli/rpcctl \
     /usr/local/bin/
COPY --from=build /src/svc-auth/migrations /usr/share/microcore/svc-auth/migrations
COPY --from=build /src/svc-auth/mail /usr/share/microcore/svc-auth/mail
COPY --from=build /src/svc-user/migrations /usr/share/microcore/svc-user/migrations
COPY --from=build /src/svc-admin/migrations /usr/share/microcore/svc-admin/migrations
COPY --from=build /src/edge/www /usr/share/microcore/www

# A library missing from the list above fails the build here, not at start.
RUN for b in svc-auth svc-user svc-admin edge rpcctl; do \
      if ldd "/usr/local/bin/$b" | grep 'not found'; then exit 1; fi; \
    done

# The defaults compiled into the binaries point into the build tree; these
# point at the copies above.
ENV AUTH_MIGRATIONS_DIR=/usr/share/microcore/svc-auth/migrations \
    AUTH_MAIL_TEMPLATES_DIR=/usr/share/microcore/svc-auth/mail \
    USER_MIGRATIONS_DIR=/usr/share/microcore/svc-user/migrations \
    ADMIN_MIGRATIONS_DIR=/usr/share/microcore/svc-admin/migrations \
    EDGE_WWW_DIR=/usr/share/microcore/www

# Numeric, so that Kubernetes can check runAsNonRoot without a passwd file.
USER 10001:10001
WORKDIR /
# Services stop cleanly on SIGTERM (docs/operations.md#stopping).
STOPSIGNAL SIGTERM
CMD ["rpcctl", "--help"]
