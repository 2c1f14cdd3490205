"""A stand-in for PyAV on the GPU machine, which has none and where the 35 MB wheel does not fit a
call beside the tree: enough for `import vidcodec.api` and for decoding .gvc streams to frames
(api.frames), which use no FFmpeg. Anything that would read or write media fails loudly."""


class FFmpegError(Exception):
    pass


class _Missing:
    """Any name PyAV has: attribute access gives another stand-in, calling one raises."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> "_Missing":
        return _Missing(f"{self._name}.{attr}")

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self._name}: PyAV is not installed on this machine (runs/gpu-speed/avstub)")

    def __or__(self, other: object) -> "_Missing":
        return _Missing(f"{self._name}|...")

    __ror__ = __or__

    def __hash__(self) -> int:
        return hash(self._name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Missing) and other._name == self._name


def __getattr__(name: str) -> _Missing:
    return _Missing(f"av.{name}")
