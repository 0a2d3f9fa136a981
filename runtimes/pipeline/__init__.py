"""The image pipeline of the deploy side: decode, preprocess, classify, sources (numpy + OpenCV)."""
