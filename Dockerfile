# The `simcal` command as a container image, for the shard jobs of docs/k8s (docs/shards.md):
#   podman build -t registry.example.com/you/simcal:0.1.0 .     # or docker build
#   podman push registry.example.com/you/simcal:0.1.0
#   docs/k8s/run.sh registry.example.com/you/simcal:0.1.0
# Two stages: a release build of the command (package `simcal-cli`, default features, so with
# the GPU backend) in the Rust image, then the binary alone on a slim Debian of the same release,
# whose glibc is the one it was linked against.

# The toolchain the project is tested with; the locked dependencies need Rust 1.90 or later.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# What cargo reads: the workspace's manifests (it loads every member's, with the bench and test
# files they name), the library, the command and the WGSL shader the GPU backend embeds; an edit
# to docs/ or data/ does not invalidate this layer.
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY cli cli
COPY python python
COPY shaders shaders
COPY benches benches
COPY tests tests
# The crates and target/ live in cache mounts (BuildKit, buildah and podman keep them between
# builds), so a rebuild after an edit recompiles simcal, not its dependencies. A cache mount is
# not part of the image: the binary is copied out of it in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p simcal-cli \
    && install -m 0755 target/release/simcal /usr/local/bin/simcal

FROM debian:bookworm-slim
# libvulkan1 is the Vulkan loader, which the GPU backend opens at run time; the driver it loads
# (an ICD) belongs to the node, not to the image:
# - NVIDIA: the NVIDIA container toolkit mounts the driver's Vulkan ICD into the container when
#   the `graphics` capability is asked for, as NVIDIA_DRIVER_CAPABILITIES below does (its default,
#   `compute,utility`, gives CUDA only, and Vulkan then finds no GPU).
# - AMD and Intel: Mesa's drivers, `mesa-vulkan-drivers`, added to the apt-get line below (or the
#   node's mounted, with VK_DRIVER_FILES naming its ICD file), and the GPU's /dev/dri passed in.
# Without an ICD, `--backend auto` (the default) scores on the CPU and `--backend gpu` fails with
# `no GPU adapter`. Nothing else is needed: simcal opens no network connection.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libvulkan1=1.3.239.0-1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 simcal \
    && useradd --system --uid 10001 --gid simcal --no-create-home --home-dir /data simcal \
    && install -d -o 10001 -g 10001 /data
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics
COPY --from=build /usr/local/bin/simcal /usr/local/bin/simcal
# A numeric user, so that Kubernetes' runAsNonRoot can check it; /data is where the Jobs of
# docs/k8s mount their volume, and the working directory for relative paths.
USER 10001:10001
WORKDIR /data
ENTRYPOINT ["simcal"]
CMD ["--help"]
