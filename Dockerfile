FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin quantgraph

FROM debian:bookworm-slim
COPY --from=build /src/target/release/quantgraph /usr/local/bin/quantgraph
EXPOSE 8000
CMD ["quantgraph", "serve"]
