# bertviz-lite, CPU image for a class server.
#   docker build -t bertviz-lite .
#   docker run -p 8501:8501 -v bertviz-cache:/data bertviz-lite
# GPU variant: start FROM an nvidia/cuda runtime image with Python 3.11 and install the CUDA
# build of torch 2.13 instead (pip install torch==2.13.0 --index-url
# https://download.pytorch.org/whl/cu128); device "auto" then picks the GPU.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    BERTVIZ_HOME=/data BERTVIZ_CACHE_DIR=/data/cache

WORKDIR /app
# The CPU build of torch first, from PyTorch's CPU index (the default PyPI wheel is CUDA, GBs).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY bertviz_lite ./bertviz_lite
RUN pip install .
COPY app.py ./
COPY assets ./assets
COPY .streamlit ./.streamlit
ENV BERTVIZ_ASSETS=/app/assets

RUN useradd --create-home --uid 1000 bertviz && mkdir -p /data && chown bertviz /data
USER bertviz
VOLUME /data
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health').read() != b'ok')"
CMD ["python", "-m", "bertviz_lite.app.run", "app.py", "--server.port", "8501", "--server.address", "0.0.0.0"]
