"""Adapters: each module translates between the core and one library or resource
(openai, the speaker, WAV files, prompt files) and maps that library's errors to ours."""
