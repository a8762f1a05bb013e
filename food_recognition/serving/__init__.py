"""food_recognition.serving."""
