# Roset Local in a container: the same server as ./scripts/run, as a non-root user, data on a volume.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY roset_local ./roset_local
COPY web ./web
RUN python -m venv /opt/roset && /opt/roset/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin roset \
    && mkdir -p /data /app && chown roset /data
COPY --from=build /opt/roset /opt/roset
COPY web /app/web
ENV PATH=/opt/roset/bin:$PATH \
    ROSET_DATA_DIR=/data \
    ROSET_HOST=0.0.0.0 \
    ROSET_PORT=8700 \
    PYTHONUNBUFFERED=1
USER roset
VOLUME ["/data"]
EXPOSE 8700
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8700/ready', timeout=4).status == 200 else 1)"
ENTRYPOINT ["roset-local"]
CMD ["serve"]
