# PostgreSQL for the deploy test, on the same debootstrap base as SKYNET's
# image (no registry is reachable). It honours the variables compose.yaml
# gives the official image: POSTGRES_USER, POSTGRES_DB,
# POSTGRES_PASSWORD_FILE.
ARG BASE=skynet-deploy-test-base:bookworm
FROM ${BASE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
    && ln -s /usr/lib/postgresql/15/bin/pg_isready /usr/local/bin/pg_isready \
    && mkdir -p /var/lib/postgresql/data /run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY postgres-entrypoint /usr/local/bin/postgres-entrypoint
ENV PGDATA=/var/lib/postgresql/data
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
