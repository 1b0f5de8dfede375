"""A trained model put to use: the MLflow classifier and its model card, registering it, and
answering photos, video and a camera (predict), ONNX export, the face-detector check and a load test."""
