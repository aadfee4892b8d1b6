# Builds the taskhub binary and runs it in a small image. Used by docker-compose.yml's `worker`.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin taskhub

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 taskhub
COPY --from=build /src/target/release/taskhub /usr/local/bin/taskhub
USER taskhub
ENTRYPOINT ["taskhub"]
CMD ["--help"]
