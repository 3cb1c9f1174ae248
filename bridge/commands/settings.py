"""The user's settings: command-line flags > environment variables > a TOML file > defaults.

Pure loading and merging: the entry points pass the flags, the environment and the home
directory in; nothing here reads ``os.environ`` or argv. The one file this module opens is the
configuration file whose path it is given.

The file is optional. Its place is ``$BRIDGE_CONFIG`` when set, else
``$XDG_CONFIG_HOME/bridge/config.toml``, else ``~/.config/bridge/config.toml``. Its keys mirror
the flags (``llm_base_url`` or ``llm-base-url`` for ``--llm-base-url``)::

    llm_base_url = "http://127.0.0.1:8080/v1"
    llm_model = "qwen2.5:3b"
    tts_api_key = "sk-..."      # same as DASHSCOPE_API_KEY
    region = "singapore"        # or ap-southeast-1; see bridge --help for all six
    workspace = "ws-..."        # optional: the workspace-scoped endpoint of that region
    voice = "Ethan"
    prompt = "concise"
    sample_rate = 24000
    lexicon = "lexicon.toml"    # word replacements (relative to this file's folder)
    think_open = true           # the model's chat template pre-fills <think>
    think_window = 2000         # or: drop what comes before a </think> this early

    [prices.qwen3-tts-flash-realtime]   # optional: your price per 10,000 billed characters
    per_10k_chars = 0.8                 # (none is built in: prices change)
    currency = "CNY"
    as_of = "2026-11-01"                # optional: when you read it

An unknown key, a value of the wrong type or a file that is not TOML is a ``ConfigError`` that
names the file, so a typo is never silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from bridge.core.errors import ConfigError

if TYPE_CHECKING:  # imported where a file's prices are read: a command that reads no file
    from bridge.core.cost import PriceTable  # (bridge tts-server) needs no cost module

__all__ = [
    "KEYS",
    "ConfigKey",
    "Settings",
    "config_path",
    "history_path",
    "merge_settings",
    "parse_config",
    "read_config",
]

Kind = Literal["str", "int", "bool"]
# A value of the file: a setting, or the price table (the ``[prices]`` tables).
FileValue: TypeAlias = "str | int | bool | PriceTable"
PRICES = "prices"


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One setting: its name (the flag's ``dest`` and the file's key), its environment
    variable, and its type."""

    name: str
    env: str
    kind: Kind = "str"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("llm_base_url", "OPENAI_BASE_URL"),
    ConfigKey("llm_api_key", "OPENAI_API_KEY"),
    ConfigKey("llm_model", "BRIDGE_LLM_MODEL"),
    ConfigKey("llm_threads", "BRIDGE_LLM_THREADS", "int"),
    ConfigKey("prompt", "BRIDGE_PROMPT"),
    ConfigKey("tts_url", "BRIDGE_TTS_URL"),
    ConfigKey("tts_api_key", "DASHSCOPE_API_KEY"),
    ConfigKey("region", "BRIDGE_TTS_REGION"),
    ConfigKey("workspace", "DASHSCOPE_WORKSPACE"),
    ConfigKey("tts_model", "BRIDGE_TTS_MODEL"),
    ConfigKey("voice", "BRIDGE_VOICE"),
    ConfigKey("language", "BRIDGE_LANGUAGE"),
    ConfigKey("sample_rate", "BRIDGE_SAMPLE_RATE", "int"),
    ConfigKey("tts_stall_ms", "BRIDGE_TTS_STALL_MS", "int"),
    ConfigKey("local", "BRIDGE_LOCAL", "bool"),
    ConfigKey("lexicon", "BRIDGE_LEXICON"),
    ConfigKey("workers", "BRIDGE_SERVE_WORKERS", "int"),
    ConfigKey("think_open", "BRIDGE_THINK_OPEN", "bool"),
    ConfigKey("think_window", "BRIDGE_THINK_WINDOW", "int"),
)
_BY_NAME: Mapping[str, ConfigKey] = MappingProxyType({k.name: k for k in KEYS})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})

# Where a value came from, strongest first.
Source = Literal["flag", "env", "file", "default"]
RANK: Mapping[str, int] = MappingProxyType({"flag": 3, "env": 2, "file": 1, "default": 0})


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The merged settings of one command. ``None`` means "not set anywhere" (the command
    applies its own default). ``sources`` says where each set value came from."""

    llm_base_url: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_model: str | None = None
    llm_threads: int | None = None  # the embedded model's; None: every available core
    prompt: str | None = None
    tts_url: str | None = None
    tts_api_key: str | None = field(default=None, repr=False)
    region: str | None = None
    workspace: str | None = None
    tts_model: str | None = None
    voice: str | None = None
    language: str | None = None
    sample_rate: int | None = None
    tts_stall_ms: int | None = None  # silence of a TTS owing audio taken as a drop
    local: bool = False
    lexicon: str | None = None  # a lexicon file's path (relative: to the config file's folder)
    workers: int | None = None  # bridge serve's processes; None: one
    think_open: bool = False  # the reply starts inside a <think> block
    think_window: int | None = None  # characters in which a lone </think> drops what came before
    prices: PriceTable | None = None  # the file's [prices] tables
    sources: Mapping[str, Source] = field(default_factory=dict)
    config_path: Path | None = None  # where the configuration file is looked for
    config_file: Path | None = None  # the file that was read, when there was one

    def source(self, name: str) -> Source:
        return self.sources.get(name, "default")

    def outranks(self, name: str, other: str) -> bool:
        """Whether ``name`` was set with at least the precedence of ``other``."""
        return RANK[self.source(name)] >= RANK[self.source(other)]


def config_path(env: Mapping[str, str], home: Path) -> tuple[Path, bool]:
    """The configuration file's path, and whether it was named explicitly (``BRIDGE_CONFIG``;
    a file named explicitly must exist)."""
    explicit = env.get("BRIDGE_CONFIG")
    if explicit:
        return Path(explicit).expanduser(), True
    xdg = env.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return base / "bridge" / "config.toml", False


def history_path(env: Mapping[str, str], home: Path) -> Path | None:
    """Where ``bridge chat`` keeps what you typed: ``$BRIDGE_HISTORY`` (empty: nowhere), else
    ``$XDG_STATE_HOME/bridge/chat_history``, else ``~/.local/state/bridge/chat_history``."""
    if "BRIDGE_HISTORY" in env:
        value = env["BRIDGE_HISTORY"]
        return Path(value).expanduser() if value else None
    xdg = env.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "state"
    return base / "bridge" / "chat_history"


def _check_type(key: ConfigKey, value: Any, where: str) -> str | int | bool:
    expected = {"str": "a string", "int": "a whole number", "bool": "true or false"}[key.kind]
    ok = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
    }[key.kind]
    if not ok:
        raise ConfigError(f"{where}: {key.name} must be {expected}, got {value!r}", field=key.name)
    checked: str | int | bool = value
    return checked


def parse_config(text: str, *, source: str) -> dict[str, FileValue]:
    """Parse the TOML ``text`` of a configuration file (``source`` names it in errors)."""
    import tomllib  # only with a configuration file: its import is ~20 ms of every command's start

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}", field="config") from None
    out: dict[str, FileValue] = {}
    for raw_key, value in data.items():
        name = raw_key.replace("-", "_")
        if name == PRICES:
            from bridge.core.cost import PriceTable

            out[PRICES] = PriceTable.parse(value, source=source)
            continue
        key = _BY_NAME.get(name)
        if key is None:
            known = ", ".join([*(k.name for k in KEYS), PRICES])
            raise ConfigError(
                f"{source}: unknown key {raw_key!r}; known keys: {known}", field="config"
            )
        if name in out:
            raise ConfigError(f"{source}: {name} is set twice", field=name)
        out[name] = _check_type(key, value, source)
    return out


def read_config(path: Path, *, explicit: bool = False) -> dict[str, FileValue]:
    """Read and parse the configuration file at ``path``. A missing file is an empty
    configuration, unless it was named explicitly."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(
                f"configuration file not found: {path} (from BRIDGE_CONFIG)", field="config"
            ) from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", field="config") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", field="config") from None
    return parse_config(text, source=str(path))


def _from_env(key: ConfigKey, value: str) -> str | int | bool | None:
    """An environment value; an empty variable counts as unset."""
    if key.kind == "str":
        return value or None
    text = value.strip().lower()
    if key.kind == "bool":
        if text in _TRUE:
            return True
        if text in _FALSE:
            return None
        raise ConfigError(f"{key.env} must be 1 or 0 (true or false), got {value!r}")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{key.env} must be a whole number, got {value!r}") from None


def merge_settings(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    file_values: Mapping[str, FileValue],
    *,
    config_path: Path | None = None,
) -> Settings:
    """Merge per key: a flag that was given (not ``None``, not ``False``, not empty) wins over
    the environment, which wins over the file."""
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for key in KEYS:
        flag = flags.get(key.name)
        if flag is not None and flag is not False and flag != "":
            values[key.name], sources[key.name] = flag, "flag"
            continue
        if key.env in env:
            from_env = _from_env(key, env[key.env])
            if from_env is not None:
                values[key.name], sources[key.name] = from_env, "env"
                continue
        if key.name in file_values:
            value = file_values[key.name]
            if value != "" and value is not False:
                values[key.name], sources[key.name] = value, "file"
    from bridge.core.cost import PriceTable

    if isinstance(prices := file_values.get(PRICES), PriceTable):
        values[PRICES], sources[PRICES] = prices, "file"
    return Settings(
        **values,
        sources=MappingProxyType(sources),
        config_path=config_path,
        config_file=config_path if file_values else None,
    )
