"""The test helpers that start ``medianest`` processes leave no file open behind them: the suite runs with
warnings as errors, and an unclosed log would fail whichever test happened to collect it."""

from __future__ import annotations

import asyncio
import gc
import warnings
from pathlib import Path

from medianest_core.testing import serve_env, start_worker, stop_worker


async def test_a_worker_writes_its_log_and_leaves_no_file_open(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        # Without a broker the worker refuses to start: its complaint must reach the log.
        worker = await start_worker(serve_env(tmp_path / "data"), log, "--threads", "1")
        async with asyncio.timeout(60):
            await worker.wait()
        code = await stop_worker(worker)
        gc.collect()
    assert code != 0
    assert "needs an external broker" in log.read_text()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
