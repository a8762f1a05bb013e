"""An example food_recognition plugin that adds the ``tiny_cnn`` backbone."""
