"""The texture path travels through the daemon: a client's choice reaches the engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from daemon_process import (
    FAST_ENGINE_LIMITS,
    DaemonProcess,
    result_image,
    sample_image,
    start_daemon,
)

from iic_client import DaemonClient
from iic_engine import EngineLimits, Inpainter


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    process = start_daemon(tmp_path_factory.mktemp("daemon"))
    yield process
    process.stop()


def test_each_texture_path_gives_the_engines_own_result(daemon: DaemonProcess) -> None:
    sample = sample_image(seed=5, side=96)
    engine = Inpainter(device="cpu", limits=EngineLimits(**FAST_ENGINE_LIMITS))
    with DaemonClient.connect(daemon.connection_file) as client:
        for texture in ("patches", "learned"):
            request = replace(sample.request(), texture=texture)
            result = client.submit(request).wait(timeout_s=120)
            through_daemon = result_image(result.pixels, sample.image)
            local = engine.remove(sample.image, sample.hole, texture=texture).image
            np.testing.assert_array_equal(through_daemon, local)
    patches = engine.remove(sample.image, sample.hole, texture="patches").image
    learned = engine.remove(sample.image, sample.hole, texture="learned").image
    assert (patches != learned).any()  # the choice matters, so the test can tell them apart
