# userdir's image: `docker build -t userdir .` (or `docker compose build`).
#
# Build stage: the release binary from the committed .sqlx/ query data (no database needed).
FROM rust:1.95-bookworm AS build
WORKDIR /src
ENV SQLX_OFFLINE=true CARGO_TERM_COLOR=never
# The dependencies first, from the manifests alone over stub sources: a layer that is rebuilt only
# when Cargo.toml or Cargo.lock change, not at every change of ours.
COPY Cargo.toml Cargo.lock ./
COPY crates/userdir-core/Cargo.toml crates/userdir-core/
COPY crates/userdir-store-sqlite/Cargo.toml crates/userdir-store-sqlite/
COPY crates/userdir-store-postgres/Cargo.toml crates/userdir-store-postgres/
COPY bench/Cargo.toml bench/
RUN for crate in . crates/userdir-core crates/userdir-store-sqlite crates/userdir-store-postgres bench; do \
        mkdir -p "$crate/src" && touch "$crate/src/lib.rs"; \
    done \
 && echo 'fn main() {}' > src/main.rs && echo 'fn main() {}' > bench/src/main.rs \
 && cargo build --release --locked --bin userdir \
 && rm -rf src crates/*/src bench/src
COPY . .
# Newer than the stubs' build, whatever times the copy kept.
RUN touch src/main.rs src/lib.rs crates/*/src/lib.rs \
 && cargo build --release --locked --bin userdir \
 && install -D -m 0755 target/release/userdir /out/usr/local/bin/userdir \
 && mkdir -p /out/var/lib/userdir

# Runtime stage: the binary on Debian's slim base (glibc, libgcc) and nothing else; no compiler,
# and the service runs without a shell (exec-form entrypoint and health check).
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/userdir --no-create-home userdir
COPY --from=build /out/ /
RUN chown userdir:userdir /var/lib/userdir && chmod 0700 /var/lib/userdir
# Inside a container the service listens on every interface; the data lives in the volume.
# Configure it with USERDIR__SECTION__KEY variables (README: Configuration).
ENV USERDIR__SERVER__HOST=0.0.0.0 \
    USERDIR__DATABASE__PATH=/var/lib/userdir/userdir.db
VOLUME ["/var/lib/userdir"]
USER userdir
WORKDIR /var/lib/userdir
EXPOSE 8765
# `docker stop` sends SIGTERM: userdir stops accepting, finishes in-flight requests (up to
# server.shutdown_timeout_secs), commits what it accepted and closes the database.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
    CMD ["userdir", "health", "--timeout", "4"]
ENTRYPOINT ["userdir"]
CMD ["serve"]
