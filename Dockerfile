FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# `--build-arg FEATURES=--no-default-features` leaves out the embedded vector store when the
# image always runs with QDRANT_URL (about half the build).
ARG FEATURES=""
RUN cargo build --release --bin quantgraph $FEATURES

FROM debian:bookworm-slim
COPY --from=build /src/target/release/quantgraph /usr/local/bin/quantgraph
EXPOSE 8000
CMD ["quantgraph", "serve"]
