"""food_recognition.datasets."""
