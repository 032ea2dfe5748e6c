"""Models: backbones and feature cache, concept pools, baselines, CVA and CCA."""
