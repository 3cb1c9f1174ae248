"""The pure core outside text and protocol: errors, heard-text accounting, turn results, history.

Nothing here does I/O, reads a clock or imports openai, websockets or anyio.
"""
