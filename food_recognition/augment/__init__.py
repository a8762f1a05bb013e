"""food_recognition.augment."""
