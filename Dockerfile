# One image for every pagewise service; compose picks the service with the command.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY services ./services
RUN pip install .
USER nobody
CMD ["python", "-m", "services.gateway"]
