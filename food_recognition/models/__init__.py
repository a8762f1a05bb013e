"""food_recognition.models."""
