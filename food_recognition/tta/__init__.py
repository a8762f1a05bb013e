"""food_recognition.tta."""
