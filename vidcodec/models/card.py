"""What a model's JSON card says, readable without torch (decoding with ONNX Runtime never imports it).

A card's ``"kind"`` is ``"vaegan"`` (the default; :class:`VAEGANConfig` under ``"config"``) or
``"pgan"`` (a GAN-mode generator, :class:`vidcodec.models.pgan.PGANConfig`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..container import MAX_MODEL_NAME_BYTES  # a stream's header holds the name in this many bytes
from ..errors import UsageError

VAEGAN_KIND = "vaegan"
GAN_KIND = "pgan"

DOWNSCALE = 16  # total stride of the analysis transform


def check_name(name: str, flag: str = "--name") -> str:
    """``name`` if it can name a model: its files are NAME.safetensors and NAME.json in a models folder,
    a stream's header carries it, and ``NAME@HASH`` picks one of several weights of that name."""
    size = len(name.encode("utf-8", "surrogatepass"))
    if not name.strip() or size > MAX_MODEL_NAME_BYTES or name.startswith(".") or any(
            c in '/\\@:*?"<>|' or ord(c) < 32 for c in name):
        raise UsageError(f"{flag} {name!r} cannot name a model: give 1..{MAX_MODEL_NAME_BYTES} bytes, not starting with a "
                         "dot, without control characters or any of / \\ @ : * ? \" < > | (it names the "
                         "NAME.safetensors and NAME.json files and is written into every stream), e.g. vaegan-talk")
    return name


@dataclass
class VAEGANConfig:
    """Architecture of a VAE-GAN model; stored as JSON beside its weights."""

    name: str = "vaegan-s"
    enc_channels: int = 64
    dec_channels: int = 48
    latent_channels: int = 96
    # Channels of the synthesis's last hidden layer (at half the output resolution, where most of
    # the decoding time goes); None: dec_channels.
    dec_last_channels: int | None = None
    levels: int = 6
    # Latent channels coded at each level (a prefix of the channels); None: all of them at every level.
    level_channels: list[int] | None = None

    def __post_init__(self) -> None:
        if self.level_channels is not None:
            lc = [int(c) for c in self.level_channels]
            if len(lc) != self.levels or any(not 1 <= c <= self.latent_channels for c in lc) or lc != sorted(lc):
                raise ValueError(f"level_channels must be {self.levels} non-decreasing counts in "
                                 f"1..{self.latent_channels} (got {self.level_channels})")
            self.level_channels = lc

    def channels(self, level: int) -> int:
        """Number of latent channels coded at ``level``."""
        return self.latent_channels if self.level_channels is None else self.level_channels[level]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> VAEGANConfig:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def check_kind(meta: dict, name: str) -> None:
    """Raise UsageError when a card names a kind of model this version does not know."""
    if meta.get("kind", VAEGAN_KIND) not in (VAEGAN_KIND, GAN_KIND):
        raise UsageError(f"model {name} is of unknown kind {meta.get('kind')!r}: upgrade vidcodec")
