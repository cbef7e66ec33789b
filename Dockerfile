# Roset Local in a container: the application folder of the same one-file executable that
# scripts/build-binary makes, run as a non-root user with its data on a volume. No Python in the image.
#   docker build -t roset-local .
#   docker run -p 8700:8700 -v roset-data:/data -e ROSET_ADMIN_KEY=rsk_... roset-local
# The build stage pins the distribution the executable needs at run time (glibc of Debian 12): the
# bundle carries its own libstdc++, so build on the oldest system you mean to support.

FROM python:3.11-slim-bookworm AS build
# objcopy (binutils): PyInstaller and scripts/build-binary add ELF sections with it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY roset_local ./roset_local
COPY web ./web
COPY packaging ./packaging
COPY scripts ./scripts
# The same script as on a workstation (.venv, PyInstaller, application folder, launcher, one file),
# then the one file unpacks its application folder once, here, instead of at every container start.
RUN PYTHON=python3 scripts/build-binary \
    && env -i HOME=/nonexistent ROSET_RUNTIME_DIR=/tmp/runtime dist/roset-local version \
    && mv /tmp/runtime/*/roset-local /opt/roset-local \
    && env -i HOME=/nonexistent /opt/roset-local/roset-local version

FROM debian:bookworm-slim
# tesseract reads clean scans 2-4x faster than rapidocr (bundled); without it OCR is rapidocr only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin roset \
    && mkdir -p /data \
    && chown roset /data \
    && chmod 700 /data
COPY --from=build /opt/roset-local /opt/roset-local
RUN ln -s /opt/roset-local/roset-local /usr/local/bin/roset-local
# HOME=/data: onnxruntime writes a small cache under ~/.cache.
ENV ROSET_DATA_DIR=/data \
    ROSET_HOST=0.0.0.0 \
    ROSET_PORT=8700 \
    ROSET_LOG_FORMAT=json \
    HOME=/data
USER roset
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8700
STOPSIGNAL SIGTERM
# No curl in the image: bash's /dev/tcp asks /ready directly.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/${ROSET_PORT:-8700} && printf "GET /ready HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && head -n1 <&3 | grep -q " 200 "'
ENTRYPOINT ["roset-local"]
CMD ["serve"]
