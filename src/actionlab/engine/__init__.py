"""Training, testing and prediction engine."""
