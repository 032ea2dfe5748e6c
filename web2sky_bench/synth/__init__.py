"""web2sky-synth: a procedural cross-view benchmark and its tiny vision-language model.

``generate_dataset`` writes a dataset folder (manifest, images, card, own
taxonomy, concept phrases, captions); ``ensure_dataset`` returns the folder
under the datasets root, generating it on first use. ``vlm.register_synth_clip``
registers the synth-clip open_clip model and returns its checkpoint.
"""

from web2sky_bench.synth.dataset import SIZES, ensure_dataset, generate_dataset

__all__ = ["SIZES", "ensure_dataset", "generate_dataset"]
