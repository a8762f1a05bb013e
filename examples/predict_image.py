"""Label a photo with a scoring URI: ``food-recognition serve``'s, or an Azure ML endpoint's.

Run:

.. code-block:: console

    $ food-recognition serve runs/exp1/package --port 5001 &
    $ python examples/predict_image.py http://127.0.0.1:5001/score dish.jpg

For an endpoint with key auth, put its key in ``FOOD_RECOGNITION_ENDPOINT_KEY``
(never in code), or use ``food_recognition.azure.deploy.scoring_client``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from food_recognition.serving.client import ScoringError, predict_image


def main(scoring_uri: str, image_path: str) -> int:
    """Print the top three labels of one image."""
    image = Path(image_path).read_bytes()
    try:
        prediction = predict_image(
            scoring_uri,
            image,
            key=os.environ.get("FOOD_RECOGNITION_ENDPOINT_KEY"),
            top_k=3,
            tta="flip",
        )
    except ScoringError as error:  # 4xx: the server's message says what was wrong
        print(f"refused: {error.status} {error.message}", file=sys.stderr)
        return 1
    for label in prediction.labels:
        print(f"{label.label:<30} {label.probability:.3f}")
    print(f"server time: {prediction.timing_ms['total']:.1f} ms ({prediction.tta['views']} views)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
