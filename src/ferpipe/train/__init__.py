"""Training: batch augmentation, the loop with early stopping, and the train stage."""
