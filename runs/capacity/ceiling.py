"""Where a model's quality ceiling comes from: the analysis or the synthesis.

    python runs/capacity/ceiling.py [CHECKPOINT] [CLIP:FRAME ...]

For each frame: PSNR of the synthesis of the unquantized latent (what the analysis gives), then of a
latent optimised for that frame's squared error (300 Adam steps on the latent, the synthesis fixed).
The second is what the synthesis can reach at all: if it is far above the first, the analysis is
the limit; if close, the synthesis is. (runs/diagnostics/ceiling.py gives the shipped model's first
number and its rounded top level, through the installed runtime; this one needs a training
checkpoint, because the latent is optimised through torch.)
"""

import itertools
import json
import sys
from pathlib import Path

import av
import torch

from vidcodec.models.vaegan import VAEGAN, VAEGANConfig
from vidcodec.train import checkpoint


def frame(clip: str, index: int) -> torch.Tensor:
    with av.open(clip) as c:
        rgb = next(itertools.islice(c.decode(video=0), index, None)).to_ndarray(format="rgb24")
    h, w = rgb.shape[0] // 16 * 16, rgb.shape[1] // 16 * 16
    return torch.from_numpy(rgb[:h, :w].copy()).permute(2, 0, 1)[None].float() / 255


def main() -> None:
    args = sys.argv[1:]
    path = Path(args.pop(0) if args and args[0].endswith(".safetensors") else "runs/vaegan-g/last.safetensors")
    frames = args or ["samples/vtest.mp4:40", "samples/bikes.mp4:40"]
    meta = json.loads(path.with_suffix(".json").read_text())
    model = VAEGAN(VAEGANConfig.from_dict(meta["config"]))
    checkpoint.load(path, model)
    model.eval().requires_grad_(False)
    torch.manual_seed(0)
    for spec in frames:
        clip, index = spec.rsplit(":", 1)
        x = frame(clip, int(index))

        def psnr(y: torch.Tensor, x: torch.Tensor = x) -> float:
            return -10 * torch.log10(((model.synthesis(y).clamp(0, 1) - x) ** 2).mean()).item()

        with torch.no_grad():
            y0 = model.analysis(x)
            plain = psnr(y0)
        y = y0.clone().requires_grad_(True)
        opt = torch.optim.Adam([y], lr=0.01)
        for _ in range(300):
            loss = ((model.synthesis(y) - x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            print(f"{spec}: unquantized latent {plain:.2f} dB, optimised latent {psnr(y):.2f} dB", flush=True)


if __name__ == "__main__":
    main()
