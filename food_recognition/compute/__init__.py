"""food_recognition.compute."""
