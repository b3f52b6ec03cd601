"""Deciding quickly whether pretrained weights can be downloaded.

Without a network, timm, torchvision and transformers may each retry or wait
on timeouts before failing with messages about HTTP. PhaseLens decides up
front: offline when an offline variable is set (``HF_HUB_OFFLINE``,
``TRANSFORMERS_OFFLINE``, ``PHASELENS_OFFLINE``) or when the download host
cannot be reached within a few seconds. Offline, only caches are read, and a
missing weight file gives one message saying how to provide weights.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from urllib.parse import urlparse

from ..errors import PhaseLensError

OFFLINE_VARS = ("PHASELENS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
PROBE_TIMEOUT = 3.0  # seconds; a download host that does not answer by then counts as offline


def offline_declared() -> bool:
    """Whether an offline variable is set to a true value (1, true, yes, on)."""
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in OFFLINE_VARS)


def reachable(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to `url`'s host opens within `timeout` seconds.

    Name resolution has no timeout of its own, so the attempt runs in a daemon
    thread that is abandoned when the time is up.
    """
    parts = urlparse(url if "//" in url else f"https://{url}")
    host = parts.hostname
    if not host:
        return False
    port = parts.port or (80 if parts.scheme == "http" else 443)
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def is_offline(url: str) -> bool:
    """Offline for downloads from `url`: declared, or its host unreachable."""
    return offline_declared() or not reachable(url)


def hf_endpoint() -> str:
    """The Hugging Face Hub address downloads go to (``HF_ENDPOINT`` or the default)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


@contextlib.contextmanager
def hub_offline(enabled: bool = True):
    """Inside, huggingface_hub reads only its cache (it checks this flag at call time)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = old or enabled
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old


def no_weights(what: str, reason: str) -> PhaseLensError:
    """The one message for pretrained weights that cannot be had."""
    return PhaseLensError(
        f"no pretrained weights for {what}: {reason}. Provide them with a populated cache "
        f"(run once with network access), --weights FILE (load_model(..., weights=FILE)), "
        f"or --no-pretrained (pretrained=False) for random initialization"
    )


def is_download_error(err: BaseException) -> bool:
    """Whether `err` (or what it wraps) comes from fetching a file rather than from the model code."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        mod = type(err).__module__.split(".")[0]
        if mod in ("huggingface_hub", "urllib", "http", "socket", "ssl", "httpx", "httpcore", "requests", "urllib3"):
            return True
        if isinstance(err, (ConnectionError, TimeoutError, socket.gaierror, FileNotFoundError)):
            return True
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return False
