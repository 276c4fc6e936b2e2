"""Contrastive training: InfoNCE with cross-rank gather (`losses`), GradCache (`gradcache`), the
trainable model (`model`), the HF Trainer specialisation (`trainer`) and the recipe (`run`)."""
