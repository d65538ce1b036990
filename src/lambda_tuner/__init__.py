"""lambda-tuner: a continuous optimization agent for AWS Lambda."""
