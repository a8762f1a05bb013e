"""food_recognition.evaluation."""
