"""Training stack: data, transforms, losses, the train loop and evaluation. Imports seg_perception, never the reverse."""
