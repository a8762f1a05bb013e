"""food_recognition.training."""
