"""Runs `calbot serve` as a real process for end-to-end tests, the way an operator would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.crypto import new_secret_key
from tests.fakes.base import free_port

SIGNING_SECRET = "e2e-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-e2e-bot-token"


class CalbotProcess:
    """`python -m bot serve` on a free port with the given settings; logs kept for assertions."""

    def __init__(self, tmp_path: Path, env: dict[str, str] | None = None):
        self.tmp_path = tmp_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"calbot-{self.port}.log"
        self.env = {
            "CALBOT_DATABASE": str(tmp_path / "calbot.db"),
            "CALBOT_SECRET_KEY": new_secret_key(),
            "CALBOT_PUBLIC_URL": self.url,
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> "CalbotProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GOOGLE_", "MICROSOFT_", "MEETINGBAAS_", "CALBOT_"))}
        env.update(self.env)
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.tmp_path, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"calbot exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"calbot did not become healthy in {timeout}s:\n{self.logs()}")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: a clean stop exits 0."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        """kill -9: no chance to clean up, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self._log.close()

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> "CalbotProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()
