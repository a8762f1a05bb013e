"""Serving a model package: the scoring script, its core, and the clients around it.

- :mod:`food_recognition.serving.score`: the scoring script Azure ML's inference
  server runs (``init()`` and ``run(request)``), locally and on an endpoint.
- :mod:`food_recognition.serving.scoring`: what a request means and what comes
  back (:class:`~food_recognition.serving.scoring.Scorer`), testable without a server.
- :mod:`food_recognition.serving.batching`: requests that arrive together scored
  in one forward pass.
- :mod:`food_recognition.serving.blobs`: reading a request's blob from the
  deployment's allowed containers.
- :mod:`food_recognition.serving.server`: ``food-recognition serve``, the
  inference server run locally.
- :mod:`food_recognition.serving.client`: sending an image to a scoring URI,
  local or an Azure ML online endpoint.
"""
