# kith with LiteFS, for Fly.io (fly.toml, litefs.yml; docs/deploy.md).

# Build: the same Debian release as the runtime image, so the binary finds
# the glibc it was linked against.
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# pkg-config and SQLite's headers: the build links its drivers to the one
# SQLite engine it compiles (README.md); the image has them already, the
# script only checks.
RUN bash scripts/build-deps.sh && cargo build --release -p kith --locked

FROM debian:bookworm-slim
# ffmpeg (with ffprobe): video transcoding. fuse3: LiteFS's mount; its
# allow-other option (litefs.yml) lets the user kith into the mount, which
# LiteFS's documentation asks to enable in /etc/fuse.conf. util-linux:
# setpriv and chrt, with which kith runs ffmpeg at idle priority and with
# which litefs.yml drops root (Essential in Debian, so already present;
# named for what it is used for). sqlite3: to inspect the database from
# `fly ssh console`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg fuse3 ca-certificates sqlite3 util-linux \
    && rm -rf /var/lib/apt/lists/* \
    && echo user_allow_other >> /etc/fuse.conf \
    && useradd --system --user-group --no-create-home --home-dir /data/kith --shell /usr/sbin/nologin kith

COPY --from=flyio/litefs:0.5 /usr/local/bin/litefs /usr/local/bin/litefs
COPY --from=builder /src/target/release/kith /usr/local/bin/kith
COPY litefs.yml /etc/litefs.yml

# LiteFS mounts its FUSE file system, which needs root; it then runs the
# commands under `exec` in litefs.yml, which start kith as the user kith.
ENTRYPOINT ["litefs", "mount"]
