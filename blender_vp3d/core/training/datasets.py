"""The mocap sources training can draw on, each with its fixed validation split.

``bandai``: the Bandai-Namco-Research-Motiondataset (CC BY-NC 4.0), validation by held-out styles
(``mocap.bandai``). ``cmu``: the CMU archives (commercial use allowed), validation by held-out subjects
(``mocap.cmu``). Validation clips of every source are returned whether or not the source is trained on, so a
model trained without one is still measured on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .mocap import bandai, cmu
from .mocap.clip import Clip

SOURCES = ("bandai", "cmu")

#: Licence of weights trained on each source.
LICENCES = {
    "bandai": "CC BY-NC 4.0 (Bandai Namco Research Inc.): weights trained on it are for non-commercial use only",
    "cmu": ("CMU Graphics Lab Motion Capture Database: may be included in commercial products, not resold. "
            "The data used in this project was obtained from mocap.cs.cmu.edu. The database was created with "
            "funding from NSF EIA-0196217."),
}


@dataclass
class TrainingData:
    by_source: dict[str, list[Clip]]   # source -> its training clips (every source)
    validation: dict[str, list[Clip]]  # source -> its held-out clips (every source)
    sources: tuple[str, ...]           # the sources asked for

    @property
    def train(self) -> list[Clip]:
        """Training clips of the sources asked for."""
        return [clip for source in self.sources for clip in self.by_source[source]]


def load_training_data(sources: list[str] | tuple[str, ...] = SOURCES) -> TrainingData:
    check_sources(sources)
    by_source: dict[str, list[Clip]] = {}
    validation: dict[str, list[Clip]] = {}
    for name, module in (("bandai", bandai), ("cmu", cmu)):
        by_source[name], validation[name] = module.load_split()
    return TrainingData(by_source, validation, tuple(sources))


def check_sources(sources: list[str] | tuple[str, ...], allow_empty: bool = False) -> None:
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown or (not sources and not allow_empty):
        raise ValueError(f"unknown training sources {unknown or list(sources)}; choose from {', '.join(SOURCES)}")


def source_of(dataset: str) -> str:
    """``bandai`` or ``cmu`` for a clip's ``dataset`` (``bandai-1``, ``bandai-2``, ``cmu``)."""
    return dataset.split("-")[0]


def licence_text(sources: list[str] | tuple[str, ...]) -> str:
    if "bandai" in sources:
        return ("Weights trained on CC BY-NC 4.0 data: non-commercial use only. Credit: Bandai Namco Research Inc."
                + (" Also trained on CMU mocap: " + LICENCES["cmu"] if "cmu" in sources else ""))
    return "Commercial use allowed. " + LICENCES["cmu"]
