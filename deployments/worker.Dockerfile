# Worker image for polydub's GPU pools (Docker and Kubernetes templates in this folder use it).
#   docker build -f deployments/worker.Dockerfile -t polydub-worker:latest .
# Flow runs start in /opt/polydub (POLYDUB_CHECKOUT, the prefect.yaml pull step) and share
# the work folder through the volume mounted at /srv/polydub.
# Debian bookworm, as the project's CI: the same apt package names. PyTorch's CUDA wheels bring
# the CUDA libraries; the NVIDIA container toolkit on the host brings the driver.
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    POLYDUB_CHECKOUT=/opt/polydub \
    POLYDUB_WORK_DIR=/srv/polydub/work \
    HF_HUB_OFFLINE=1 \
    PYANNOTE_METRICS_ENABLED=false \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng apertium apertium-eng-spa apertium-eng-cat apertium-eo-en libsndfile1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/polydub
COPY pyproject.toml constraints.txt ./
COPY polydub ./polydub
COPY models ./models
COPY tasks ./tasks
COPY flows ./flows
COPY prefect.yaml ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt -e . "prefect-docker" "prefect-kubernetes"
ENV PATH=/opt/venv/bin:$PATH

# Docker and Kubernetes workers override the command with the flow run's; this default lets the
# same image serve as a process worker: docker run … polydub-worker prefect worker start --pool polydub-gpu
CMD ["prefect", "worker", "start", "--pool", "polydub-gpu", "--type", "process"]
