"""What the training and scoring stages do, as library calls: a model trained under its MLflow run,
a trained model scored and logged. Stages call these and never each other."""
