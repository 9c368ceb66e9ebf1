# mvt-server image: `mvt serve` as a non-root user; data (embedded Redis, certificate, secret)
# in /data, experiments (videos) in /experiments. See README "Deploying".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MVT_DATA_DIR=/data

RUN useradd --create-home --uid 10001 mvt \
 && mkdir -p /data /experiments \
 && chown mvt:mvt /data /experiments

WORKDIR /opt/mvt
COPY pyproject.toml README.md ./
COPY app ./app
COPY stimuli ./stimuli
COPY analysis ./analysis
COPY static ./static
COPY mturk_landing ./mturk_landing
# Editable install keeps static/ and mturk_landing/ beside the package, where the server finds them.
RUN pip install -e . && python -c "import app.main"

USER mvt
VOLUME ["/data", "/experiments"]
EXPOSE 8443

# The healthcheck speaks HTTPS to the self-signed (or mounted) certificate without verifying it;
# behind a TLS-terminating proxy, run with --plain-http and change the scheme here.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import ssl,sys,urllib.request as u; sys.exit(0 if u.urlopen('https://127.0.0.1:8443/healthz', context=ssl._create_unverified_context(), timeout=4).status == 200 else 1)"

ENTRYPOINT ["mvt"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8443"]
