# syntax=docker/dockerfile:1
# Images for the compose stack, built reproducibly from uv.lock. No secret is baked in: keys
# come from the environment at run time.
#
#   target `bridge`: `bridge serve` and `bridge tts-server` (espeak-ng engine included)
#   target `llm`:    llama.cpp's OpenAI-compatible server with the embedded SmolLM2 model

ARG PYTHON=python:3.11-slim-bookworm

FROM ${PYTHON} AS uv
RUN pip install --no-cache-dir "uv==0.13.*"
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app

# --- bridge ----------------------------------------------------------------------------
FROM uv AS bridge-build
COPY pyproject.toml uv.lock README.md LICENSE ./
COPY prompts ./prompts
COPY bridge ./bridge
RUN uv sync --frozen --no-dev --extra local --extra redis --no-editable

FROM ${PYTHON} AS bridge
RUN useradd --create-home --uid 10001 bridge
COPY --from=bridge-build /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1
USER bridge
EXPOSE 8765 8000
ENTRYPOINT ["bridge"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8765"]

# --- llm: llama.cpp is compiled once, here, at image build time -------------------------
FROM uv AS llm-build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml uv.lock README.md LICENSE ./
COPY prompts ./prompts
COPY bridge ./bridge
RUN uv sync --frozen --no-dev --extra local-llm --no-editable \
    && /app/.venv/bin/python -c "from bridge.local.llm_server import find_model_file as f; print(f())" > /app/model-path

FROM ${PYTHON} AS llm
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 llm
COPY --from=llm-build /app/.venv /app/.venv
COPY --from=llm-build /app/model-path /app/model-path
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
USER llm
EXPOSE 8000
CMD ["sh", "-c", "exec python -m llama_cpp.server --model \"$(cat /app/model-path)\" --model_alias smollm2-135m-instruct --host 0.0.0.0 --port 8000 --n_ctx 2048 --n_threads 1"]
