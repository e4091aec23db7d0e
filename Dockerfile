# Switchboard in a container. CPU-only PyTorch comes from PyTorch's CPU index so the image does
# not pull CUDA (several GB).
FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    SWITCHBOARD_HOST=0.0.0.0 SWITCHBOARD_DATA_DIR=/data
COPY pyproject.toml README.md models.yaml alembic.ini ./
COPY core core
COPY api api
COPY assistant assistant
COPY billing billing
COPY knowledge knowledge
COPY toolkits toolkits
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu .
VOLUME /data
EXPOSE 8000
CMD ["switchboard", "serve"]
