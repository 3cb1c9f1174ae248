# bridge and its local TTS emulator, built reproducibly from uv.lock.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md LICENSE ./
COPY bridge ./bridge
RUN uv sync --frozen --no-dev --extra local --no-editable

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 bridge
COPY --from=build /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1
USER bridge
EXPOSE 8000
ENTRYPOINT ["bridge"]
CMD ["tts-server", "--host", "0.0.0.0", "--port", "8000", "--engine", "espeak"]
