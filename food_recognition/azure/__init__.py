"""food_recognition.azure."""
